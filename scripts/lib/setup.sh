# Shared set-up for the README's commands: installs what the project needs on a fresh Debian
# machine (operating-system packages when missing, NuGet restore) and builds the solution.
# Sourced by scripts/optimizer and scripts/test; prints progress to stderr so stdout stays clean.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONFIG="${OPTIMIZER_CONFIG:-Release}"

say() { printf '%s\n' "$*" >&2; }

# Debian packages the project uses: libz3 (the Z3 solver, called in process) and the z3 binary
# (an independent re-check of exported SMT-LIB certificates), and libonnx-testdata (ONNX's own test models,
# which the ONNX front end's tests load; tests/Optimizer.Tests/OnnxTests.cs).
APT_PACKAGES=(libz3-4 z3 libonnx-testdata)

ensure_os_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing operating-system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    say "error: the .NET SDK (dotnet) is not on PATH; install .NET 10 SDK first."
    exit 2
  fi
}

build_solution() {
  say "restoring NuGet packages and building ($CONFIG)..."
  if ! dotnet build "$ROOT/Optimizer.sln" -c "$CONFIG" -nologo -v quiet -clp:ErrorsOnly >"$ROOT/out/build.log" 2>&1; then
    cat "$ROOT/out/build.log" >&2
    say "error: the build failed (log above, also in out/build.log)."
    exit 2
  fi
}

mkdir -p "$ROOT/out"
