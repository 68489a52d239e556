// A small model in MLIR's linalg dialect (docs/frontends.md): a chain of two matrix multiplies and a conv block
// (a 3x3 convolution, an element-wise op carried as a link, and a 1x1 convolution). examples/model.yaml is the same workload
// written as a spec; both map to the same optimum.
func.func @model(%x: tensor<16x32xf32>, %w0: tensor<32x16xf32>, %w1: tensor<16x8xf32>,
                 %img: tensor<1x4x10x10xf32>, %k0: tensor<8x4x3x3xf32>, %k1: tensor<4x8x1x1xf32>) -> (tensor<16x8xf32>, tensor<1x4x8x8xf32>) {
  %e0 = tensor.empty() : tensor<16x16xf32>
  %t1 = linalg.matmul ins(%x, %w0 : tensor<16x32xf32>, tensor<32x16xf32>) outs(%e0 : tensor<16x16xf32>) -> tensor<16x16xf32> loc("mm0")
  %e1 = tensor.empty() : tensor<16x8xf32>
  %t2 = linalg.matmul ins(%t1, %w1 : tensor<16x16xf32>, tensor<16x8xf32>) outs(%e1 : tensor<16x8xf32>) -> tensor<16x8xf32> loc("mm1")
  %e2 = tensor.empty() : tensor<1x8x8x8xf32>
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%img, %k0 : tensor<1x4x10x10xf32>, tensor<8x4x3x3xf32>) outs(%e2 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32> loc("conv1")
  %r1 = linalg.elemwise_unary {fun = #linalg.unary_fn<exp>} ins(%c1 : tensor<1x8x8x8xf32>) outs(%e2 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32> loc("relu1")
  %e3 = tensor.empty() : tensor<1x4x8x8xf32>
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%r1, %k1 : tensor<1x8x8x8xf32>, tensor<4x8x1x1xf32>) outs(%e3 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  return %t2, %c2 : tensor<16x8xf32>, tensor<1x4x8x8xf32>
}
