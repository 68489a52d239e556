using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>Benchmarks that print figures measured in one run. Usage: bench [costmodel] ...</summary>
public static class Program
{
    /// <summary>Runs the named benchmarks (all when none is named).</summary>
    public static int Main(string[] args)
    {
        try { return Run(args); }
        catch (BenchUsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    private static int Run(string[] args)
    {
        var numbers = args.Where(a => double.TryParse(a, System.Globalization.CultureInfo.InvariantCulture, out _)).ToList();
        var names = args.Except(numbers).ToList();
        var which = names.Count == 0 ? new List<string> { "costmodel", "small", "resnet50" } : names;
        double seconds = numbers.Count > 0 ? double.Parse(numbers[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
        foreach (var name in which)
        {
            switch (name)
            {
                case "costmodel": CostModelThroughput(); break;
                case "timeloop-model": TimeloopModelThroughput(); break;
                case "small": SmallCase(); break;
                case "resnet50": ResNet50(seconds); break;
                case var c when c == "cpsat" || c.StartsWith("cpsat:", StringComparison.Ordinal): CpSat(seconds, c == "cpsat" ? ["simple-ws", "eyeriss"] : [c["cpsat:".Length..]], keeperFloor: false); break;
                case var c when c.StartsWith("cpsat-cases:", StringComparison.Ordinal): CpSatCases(seconds, c["cpsat-cases:".Length..]); break;
                case var c when c == "cpsat-floor" || c.StartsWith("cpsat-floor:", StringComparison.Ordinal): CpSat(seconds, c == "cpsat-floor" ? ["simple-ws", "eyeriss"] : [c["cpsat-floor:".Length..]], keeperFloor: true); break;
                case "simulate": Simulate(seconds); break;
                case "fusion": Fusion(); break;
                case "fusion-certify": FusionCertify(numbers.Count > 0 ? seconds : 600); break;
                case var cf when cf.StartsWith("fusion-chains-full", StringComparison.Ordinal):
                    FusionChainsFull(cf.Split(':').Contains("pipeline"), numbers.Count > 0 ? seconds : null,
                        cf.Split(':').Skip(1).Where(x => int.TryParse(x, out _)).Select(int.Parse).DefaultIfEmpty().ToList() is var ns && ns[0] > 0 ? ns : [2, 4, 8, 16, 32, 64],
                        reuse: !cf.Split(':').Contains("afresh")); break;
                case var f when f.StartsWith("fusion-full", StringComparison.Ordinal): FusionFull(f, numbers.Count > 0 ? seconds : null); break;
                case var h when h.StartsWith("fusion-halos", StringComparison.Ordinal): FusionHalos.Run(h, numbers.Count > 0 ? seconds : null); break;
                case "fusion-keep": FusionKeep.Run(); break;
                case var fc when fc.StartsWith("fusion-cases", StringComparison.Ordinal):
                    FusionCases.Run(fc, numbers.Count > 0 ? (int)seconds : 600, numbers.Count > 1 ? int.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : 9); break;
                case var pp when pp.StartsWith("fusion-pipe-prune", StringComparison.Ordinal): FusionPipePrune.Run(pp, numbers.Count > 0 ? (int)seconds : 4); break;
                case var fp when fp.StartsWith("fusion-pipeline", StringComparison.Ordinal): FusionPipeline.Run(fp, numbers.Count > 0 ? seconds : null); break;
                case "network": Network(); break;
                case "timeloop-optima": TimeloopOptima(); break;
                case var ts when ts.StartsWith("timeloop-seeds", StringComparison.Ordinal):
                    TimeloopSeeds.Run(numbers.Count > 0 ? seconds : 10, numbers.Count > 1 ? double.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : 60,
                        numbers.Count > 2 ? double.Parse(numbers[2], System.Globalization.CultureInfo.InvariantCulture) : 0,
                        ts.Split(':').Skip(1).Where(x => !x.EndsWith(".yaml", StringComparison.Ordinal)).ToList(), ts.Split(':').Skip(1).Where(x => x.EndsWith(".yaml", StringComparison.Ordinal)).ToList()); break;
                case "timelimit": TimeLimitHolds(); break;
                case "window-capabilities": WindowCapabilities.Run(numbers.Count > 0 ? seconds : 120); break;
                case "onnx-load": OnnxLoad(); break;
                case "imperfect": Imperfect(numbers.Count > 0 ? seconds : 60); break;
                case "imperfect-proofs": ImperfectProofs.Run(numbers.Count > 0 ? seconds : 60, numbers.Count > 1 ? int.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : 0, numbers.Count > 2 ? int.Parse(numbers[2], System.Globalization.CultureInfo.InvariantCulture) : int.MaxValue); break;
                case "shapes": Shapes(numbers.Count > 0 ? seconds : 600, numbers.Count > 1 ? int.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : 4,
                    numbers.Count > 2 ? int.Parse(numbers[2], System.Globalization.CultureInfo.InvariantCulture) : 64); break;
                case "shape-proofs": ShapeProofs.Run(numbers.Count > 0 ? seconds : 300); break;
                case "shape-proofs:alone": ShapeProofs.RunAlone(numbers.Count > 0 ? seconds : 300); break;
                case "shape-seeds": ShapeSeeds.Run(numbers.Count > 0 ? seconds : 60); break;
                case "codesign" or "codesign:energy" or "codesign:edp":
                    CodesignEyeriss(numbers.Count > 0 ? seconds : 600, numbers.Count > 1 ? double.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : null,
                        numbers.Count > 2 && numbers.Count < 4 ? double.Parse(numbers[2], System.Globalization.CultureInfo.InvariantCulture) : null,
                        name == "codesign:energy" ? [DesignMetric.Energy] : name == "codesign:edp" ? [DesignMetric.Edp] : [DesignMetric.Energy, DesignMetric.Edp],
                        numbers.Count > 3 ? long.Parse(numbers[3], System.Globalization.CultureInfo.InvariantCulture) : null); break;
                case "codesign-dive-nodes": CodesignDiveNodes.Run(numbers.Count > 0 ? numbers.Select(x => long.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToList() : [2_000, 20_000]); break;
                case "codesign-edp-floor": CodesignEdpFloor.Run(numbers.Count > 1 ? int.Parse(numbers[1], System.Globalization.CultureInfo.InvariantCulture) : 192, numbers.Count > 0 ? seconds : 10); break;
                case "codesign-fronts": CodesignFronts(numbers.Count > 0 ? seconds : 1800); break;
                case "proofs": Proofs(seconds, names.Skip(names.IndexOf("proofs") + 1).ToList()); return 0; // the names after it are networks, presets, objectives
                case var d when d.StartsWith("descent", StringComparison.Ordinal): DescentSweep(d); break;
                default:
                    Console.Error.WriteLine($"error: unknown benchmark '{name}'; known: costmodel, timeloop-model, small, resnet50, cpsat[:PRESET], cpsat-floor[:PRESET], window-capabilities [seconds per search], codesign[:energy|:edp] (both when neither) [seconds per objective [seconds per bound search [seconds per quick bound search [nodes per search of the dive (then the quick seconds are ignored)]]]], codesign-fronts [seconds per front], simulate, fusion, fusion-full[:resnet50|:gpt3] [seconds per fused search], fusion-halos[:resnet50|:mobilenetv2][:template|:keep] [seconds per fused search], fusion-keep, fusion-cases[:plain|:pipeline|:halos][:small][:edp] [count [seed]], fusion-pipeline[:examples|:gpt3|:resnet50] [seconds per fused search], fusion-pipe-prune[:resnet50|:mobilenetv2|:gpt3] [groups], fusion-certify [seconds per certificate], network, timeloop-optima, timelimit, onnx-load, imperfect [seconds per case], imperfect-proofs [seconds per search [first shape [shapes]]], shapes [seconds per search [E = D [buffer words]]], shape-proofs[:alone] [seconds per search], shape-seeds [seconds per search], proofs [NETWORK|PRESET|OBJECTIVE|timeloop...], descent[:WORKLOAD[:ARCH[:norandom]]] (an empty WORKLOAD or ARCH: all) [seconds per layer]");
                    return 2;
            }
        }
        return 0;
    }

    /// <summary>
    /// Loading ONNX graphs (issue 20): a 500-node graph (250 Gemm nodes of a matmul chain, a Relu after each, carried as
    /// links) and the exported ResNet-50, each read from bytes five times after one warm-up read; the median time.
    /// </summary>
    private static void OnnxLoad()
    {
        var chain = Optimizer.Workloads.Frontends.OnnxExport.Model(Zoo.Get("matmul-chain:250,m=64,k=64"));
        var nodes = chain.Graph.Node.ToList();
        chain.Graph.Node.Clear();
        foreach (var node in nodes)
        {
            var written = node.Output[0];
            node.Output[0] = written + "_pre";
            var relu = new Onnx.NodeProto { Name = node.Name + "_relu", OpType = "Relu" };
            relu.Input.Add(written + "_pre");
            relu.Output.Add(written);
            chain.Graph.Node.Add(node);
            chain.Graph.Node.Add(relu);
        }
        foreach (var (name, bytes) in new[] { ("matmul-chain:250 + 250 Relu", Google.Protobuf.MessageExtensions.ToByteArray(chain)),
                     ("resnet50 (exported)", Optimizer.Workloads.Frontends.OnnxExport.Write(Zoo.Get("resnet50"))) })
        {
            var empty = new Dictionary<string, int>();
            var model = Optimizer.Workloads.Frontends.OnnxImport.Read(bytes, "bench.onnx", empty);
            var times = new List<double>();
            for (int i = 0; i < 5; i++)
            {
                var clock = Stopwatch.StartNew();
                model = Optimizer.Workloads.Frontends.OnnxImport.Read(bytes, "bench.onnx", empty);
                times.Add(clock.Elapsed.TotalSeconds);
            }
            times.Sort();
            int graphNodes = model.Workload.Layers.Count + model.Skipped.Count;
            Console.WriteLine($"onnx-load: {name}: {graphNodes} nodes ({model.Workload.Layers.Count} Einsums, {model.Workload.Edges.Count} edges), {bytes.Length:N0} bytes, median {times[2] * 1000:0.#} ms (min {times[0] * 1000:0.#}, max {times[4] * 1000:0.#})");
        }
    }

    /// <summary>
    /// The checkout holding Optimizer.sln: above the benchmark's own files, else above the current directory (a copied
    /// build run from inside the repository).
    /// </summary>
    internal static string RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, "Optimizer.sln"))) return dir;
        throw new BenchUsageException($"no Optimizer.sln above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}: run the benchmark inside the repository");
    }

    /// <summary>A benchmark that cannot run where it was started: printed as an error, exit 2.</summary>
    internal sealed class BenchUsageException(string message) : Exception(message);

    /// <summary>
    /// Co-design (issue 19): ResNet-50 over the 256-point Eyeriss-like space of examples/codesign-eyeriss.yaml, energy
    /// then EDP (or only the one named: codesign:energy, codesign:edp), each with a time limit for the whole run (and optionally a cap on each search on a relaxation): the
    /// status, the best point, the bound and gap, the exact layer searches against a full sweep's, and the time.
    /// </summary>
    private static void CodesignEyeriss(double seconds, double? boundSeconds, double? quickSeconds, IReadOnlyList<DesignMetric> objectives, long? quickNodes = null)
    {
        var dir = RepositoryRoot();
        var space = Optimizer.Hardware.Specs.DesignSpaceSpec.Load(Path.Combine(dir, "examples", "codesign-eyeriss.yaml"));
        var workload = Zoo.Get("resnet50");
        Console.WriteLine($"codesign: resnet50 ({Zoo.DistinctShapes(workload).Count} distinct shapes) over {space.Name} ({space.Count} points); " +
                          $"{seconds} s per objective{(boundSeconds is { } b ? $", at most {b} s per search on a relaxation" : "")}, " +
                          (quickSeconds is { } qsec ? $"at most {qsec} s per search of a quick bound" : $"the dive's searches {quickNodes ?? Codesign.DefaultQuickNodes} nodes each, one thread"));
        foreach (var objective in objectives)
        {
            var run = new Codesign(space, workload, new SearchLimits(TimeSpan.FromSeconds(seconds)), boundSeconds is { } bs ? TimeSpan.FromSeconds(bs) : null,
                quickSeconds is { } qs ? TimeSpan.FromSeconds(qs) : null, quickNodes: quickNodes);
            var r = run.Minimize(objective, []);
            var e = run.Evaluator;
            Console.WriteLine($"  {DesignMetrics.Name(objective)}: {r.Status} best={(r.BestValue is { } v ? v.ToString("G6") : "-")} bound={r.Bound:G6} gap={(r.GapPercent is { } g ? $"{g:0.###}%" : "-")} " +
                              $"points mapped in full {r.PointsEvaluated}, points not yet ruled out {r.PointsOpen}; exact layer searches {e.Searches} ({e.BoundSearches} on relaxations, {e.PointSearches} on points) " +
                              $"vs full sweep {r.FullSweep} ({(e.Searches > 0 ? (double)r.FullSweep / e.Searches : 0):0.#}x fewer; {e.CacheHits} from the cache, {e.Refinements} repeated with more time; {e.DominatedBounds} bounds raised by a dominating architecture's; {e.CarriedSeeds} searches seeded with a mapping carried from another architecture, {e.ProvedUnsearched} shapes proved without a search, {e.CarriedValued} carried mappings valued in {e.CarriedTime.TotalSeconds:0.#} s; " +
                              (objective == DesignMetric.Edp ? $"{e.EnergySearchesForEdp} energy searches run for EDP floors ({e.EnergySearchesLeft} left: no rise possible), {e.EdpSearchesLeft} EDP searches on sets left (none could decide the set; {e.SetsLeftUnsearched} sets searched not at all), {e.EdpFloorBounds} EDP bounds raised by energy bound x least cycles; " : "") + $"{e.StoppedAtEnough} searches stopped at the bound that decides their node; " +
                              $"{e.Skipped} left unsearched above the cutoff; {run.LeftHalves} halves the dive left unsearched); {r.Elapsed.TotalSeconds:0.#} s");
            if (r.Best is { } best) Console.WriteLine($"    point {best.Point}: {best.Description}; area {best.Values[DesignMetric.Area]:0.###} mm²");
            foreach (var (stage, t) in run.Stages)
                Console.WriteLine($"    {stage}: {t.Nodes} evaluated ({t.Dropped} dropped at once), {t.Searches} searches, {t.Skipped} left unsearched, {t.Time.TotalSeconds:0.#} s");
            // Each set's full bound: its searches, dropped or kept, and the shapes the stop once kept left (Codesign.StopOnceKept).
            foreach (var x in run.FullBounds)
                Console.WriteLine($"    full bound: {x.Points.Count} from {x.Points.Min()}, {x.Searches} searches, {(x.Dropped ? "dropped" : "kept")} at {x.Key / x.Cutoff:0.####} of the cutoff {x.Cutoff:G6}{(x.KeptStopLeft is { } l ? $", stopped once kept (known {x.KnownAtStop / x.Cutoff:0.####} of the cutoff): {l} searches left" : "")}");
            Console.WriteLine($"    full bounds stopped once kept: {e.KeptStops}, {e.KeptStopsLeft} searches left");
            // The sets split without a bound near the cutoff (Codesign.SplitNearCutoff): their least known point value against the cutoff then.
            foreach (var x in run.NearSplits)
                Console.WriteLine($"    split near the cutoff: {x.Points.Count} from {x.Points.Min()}, known value {x.Upper:G5} ({(x.Upper / x.Cutoff - 1) * 100:0.##} % above the cutoff {x.Cutoff:G6})");
            // The dive's path: at each step the halves' keys (lower bounds) and estimates (their mappings at the halves' largest energies), the one taken marked.
            foreach (var step in run.Dive)
                Console.WriteLine("    dive: " + string.Join("  |  ", step.Halves.Select((h, i) => $"{(i == step.Chosen ? "*" : " ")}{h.Points.Count} from {h.Points.Min()}: key {h.Key:G5} est {(h.Estimate is { } x ? x.ToString("G5") : "-")}{(h.Own is { } y && h.Estimate is { } z && y > z ? $" (own {y:G5})" : "")}"))
                    + string.Concat(step.Left.Select(h => $"  |   {h.Points.Count} from {h.Points.Min()}: left unsearched, key {h.Key:G5} est {h.Estimate:G5} before its searches")));
            // Where the gap is, shape by shape: the best point's bound and value against the bound of the node that sets the run's bound.
            var mapped = Codesign.MappedFor(objective);
            if (r.Status != CodesignStatus.Optimal && r.Best?.Sums.GetValueOrDefault(mapped) is { } own)
            {
                var least = run.Least?.Sums?.GetValueOrDefault(mapped);
                Console.WriteLine($"    per shape (count x): best point's bound / value, and the bound of the least open node ({(run.Least is { } l ? $"{l.Points.Count} point(s) from {l.Points.Min()}" : "none")}{(least is null ? ", not evaluated itself" : "")})");
                for (int i = 0; i < e.Shapes.Count && i < own.Results.Count; i++)
                {
                    var p = own.Results[i];
                    var q = least is not null && i < least.Results.Count ? least.Results[i] : null;
                    Console.WriteLine($"      {e.Shapes[i].Layer.Name,-14} x{e.Shapes[i].Count} {p.Status,-8} {LayerEvaluator.LowerOf(p),12:G5} {(p.Best is { } pb ? pb.ToString("G5") : "-"),12}" +
                                      (q is null ? "" : $"   {q.Status,-8} {LayerEvaluator.LowerOf(q),12:G5}"));
                }
            }
        }
    }


    /// <summary>
    /// Co-design Pareto fronts (issue 19): the exact (energy, area) front of MobileNetV2 and of BERT-base over the
    /// 12-point TPU-like space of examples/codesign-tpu.yaml, each with a time limit; then the exhaustive sweep's front
    /// (every point mapped, a fresh evaluator) for comparison: the front, the status, the exact layer searches against
    /// the full sweep's and the times.
    /// </summary>
    private static void CodesignFronts(double seconds)
    {
        var dir = RepositoryRoot();
        var space = Optimizer.Hardware.Specs.DesignSpaceSpec.Load(Path.Combine(dir, "examples", "codesign-tpu.yaml"));
        Console.WriteLine($"codesign-fronts: (energy, area) Pareto fronts over {space.Name} ({space.Count} points, base {space.Base.Name}); {seconds} s per front");
        foreach (var network in new[] { "mobilenetv2", "bert-base" })
        {
            var workload = Zoo.Get(network);
            var run = new Codesign(space, workload, new SearchLimits(TimeSpan.FromSeconds(seconds)));
            var r = run.Pareto(DesignMetric.Energy, DesignMetric.Area, []);
            var e = run.Evaluator;
            Console.WriteLine($"  {network} ({e.Shapes.Count} distinct shapes): {r.Status}, {r.Front.Count} point(s): " +
                              string.Join("; ", r.Front.Select(f => $"{f.Point} energy {f.Values[DesignMetric.Energy]:G6} pJ area {f.Values[DesignMetric.Area]:0.###} mm²")) +
                              $"; exact layer searches {e.Searches} ({e.BoundSearches} on relaxations, {e.PointSearches} on points) vs full sweep {r.FullSweep}; {r.Elapsed.TotalSeconds:0.#} s" +
                              (r.Explanation is { } why ? $" ({why})" : ""));
            var clock = Stopwatch.StartNew();
            var sweeper = new Codesign(space, workload, SearchLimits.None);
            var swept = sweeper.SweepPareto(DesignMetric.Energy, DesignMetric.Area, []);
            bool same = swept.Select(f => f.Point).SequenceEqual(r.Front.Select(f => f.Point));
            Console.WriteLine($"    exhaustive sweep: front {string.Join(", ", swept.Select(f => f.Point))} ({(same ? "the same" : "DIFFERENT")}); " +
                              $"{sweeper.Evaluator.Searches} exact layer searches; {clock.Elapsed.TotalSeconds:0.#} s");
        }
    }

    /// <summary>
    /// How far proofs reach (issue 15): every distinct layer shape of each zoo network on each preset, for energy,
    /// latency and EDP, the exact search with the given seconds per shape; one row per network, preset and
    /// objective: shapes proved, the worst gap left, and the time. Networks, presets and objectives named after "proofs"
    /// limit the run (each kind on its own: none named of a kind means all of it).
    /// </summary>
    private static void Proofs(double secondsPerShape, List<string> only)
    {
        string[] networks = ["resnet50", "vgg16", "mobilenetv2", "bert-base", "gpt3-6.7b", "mlp", "lstm"];
        string[] presets = ["eyeriss", "simple-ws", "tpu-v4i", "multinode"];
        Objective[] objectives = [Objective.Energy, Objective.Latency, Objective.Edp];
        var pick = only.Where(networks.Contains).ToList();
        if (only.Where(presets.Contains).ToArray() is { Length: > 0 } somePresets) presets = somePresets;
        if (objectives.Where(o => only.Contains(o.ToString().ToLowerInvariant())).ToArray() is { Length: > 0 } someObjectives) objectives = someObjectives;
        // "timeloop" among the names: every search under the Timeloop convention (issue 14).
        var convention = only.Contains("timeloop") ? CostConvention.Timeloop : CostConvention.Default;
        Console.WriteLine($"Proofs: exact search, {secondsPerShape} s per distinct shape, {Conventions.Names[(int)convention]} convention; 'proved' = OPTIMAL; gap = worst gap of the unproved");
        Console.WriteLine("| network | preset | objective | shapes | proved | worst gap % | seconds |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var network in pick.Count > 0 ? pick : [.. networks])
        {
            var shapes = Zoo.DistinctShapes(Zoo.Get(network));
            foreach (var preset in presets)
            {
                var arch = Presets.Get(preset);
                foreach (var objective in objectives)
                {
                    int proved = 0;
                    double worst = 0;
                    var clock = Stopwatch.StartNew();
                    foreach (var (layer, _) in shapes)
                    {
                        var r = new TilingSearch(new MapProblem(layer, arch, objective, Convention: convention), prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(secondsPerShape)));
                        if (r.Status == SolveStatus.Optimal) proved++;
                        else
                        {
                            worst = Math.Max(worst, r.GapPercent ?? 100);
                            // Off the table (stderr): which shapes were left, how, and after how long.
                            Console.Error.WriteLine($"  {network} {preset} {objective.ToString().ToLowerInvariant()}: {layer.Name} {r.Status}"
                                + $"{(r.GapPercent is { } g ? $" gap {g:0.##} %" : "")} after {r.Elapsed.TotalSeconds:0.#} s, {r.Explored:N0} nodes");
                        }
                    }
                    Console.WriteLine($"| {network} | {preset} | {objective.ToString().ToLowerInvariant()} | {shapes.Count} | {proved} | " +
                                      $"{(proved == shapes.Count ? "-" : worst.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture))} | {clock.Elapsed.TotalSeconds:0.#} |");
                }
            }
        }
    }

    /// <summary>
    /// Whether the time limit holds (issue 16): the exact search on conv3_1_b of ResNet-50 on eyeriss, the layer whose
    /// plan bounds once ran 3-6 s past the limit, 10 runs each with --time-limit 3 (all cores) and --time-limit 1
    /// --threads 1; wall time from building the problem to the answer, and the overrun beyond the limit.
    /// </summary>
    private static void TimeLimitHolds()
    {
        var layer = Zoo.Get("resnet50").Layer("conv3_1_b");
        var arch = Presets.Get("eyeriss");
        Console.WriteLine("Time limit on conv3_1_b (resnet50, eyeriss, energy), 10 runs each: wall seconds from problem to answer");
        foreach (var (limit, threads) in new[] { (3.0, 0), (1.0, 1) })
        {
            var walls = new List<double>();
            for (int run = 0; run < 10; run++)
            {
                var sw = Stopwatch.StartNew();
                var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(limit), default, threads));
                walls.Add(sw.Elapsed.TotalSeconds);
                if (r.Best is null) Console.WriteLine($"  run {run}: no mapping ({r.Status})");
            }
            Console.WriteLine($"  --time-limit {limit} --threads {(threads == 0 ? "all" : threads.ToString())}: min {walls.Min():0.###} s, mean {walls.Average():0.###} s, max {walls.Max():0.###} s; " +
                              $"worst overrun {Math.Max(0, walls.Max() - limit):0.###} s");
        }
    }

    /// <summary>
    /// The search under the Timeloop convention on timeloop-mapper's fixture problems (tests/Optimizer.Tests/Fixtures/timeloop):
    /// our proven optimum and solve time (in process, after one warm-up run) beside timeloop-mapper's optimum and the
    /// wall time recorded when the fixtures were made (Timeloop cannot be built on this machine), and the ratio.
    /// </summary>
    private static void TimeloopOptima()
    {
        var dir = RepositoryRoot();
        dir = Path.Combine(dir, "tests", "Optimizer.Tests", "Fixtures", "timeloop");
        Console.WriteLine("timeloop-optima: id | ours (status, cycles, pJ, s) | timeloop-mapper (cycles, pJ, s) | time ratio");
        foreach (var line in File.ReadLines(Path.Combine(dir, "optima.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var root = System.Text.Json.JsonDocument.Parse(line).RootElement;
            string id = root.GetProperty("id").GetString()!;
            var parts = id.Split('/');
            var archPath = Path.Combine(dir, $"arch_{parts[0]}.yaml");
            var arch = Optimizer.Hardware.Specs.TimeloopArchitecture.Parse(File.ReadAllText(archPath), archPath,
                Optimizer.Hardware.Specs.EnergyTable.Load(Path.Combine(dir, $"ert_{parts[0]}.yaml")));
            var layer = Optimizer.Workloads.Specs.TimeloopProblem.Load(Path.Combine(dir, $"prob_{parts[1]}.yaml")).Layers.Single();
            var terms = root.GetProperty("optimization_metrics").EnumerateArray().Select(m => m.GetString() == "delay" ? Objective.Latency : Objective.Energy).ToArray();
            var problem = new MapProblem(layer, arch, terms[0], Convention: CostConvention.Timeloop);
            Lexicographic.Solve(problem, terms, SearchLimits.None); // warm-up (JIT)
            var sw = Stopwatch.StartNew();
            var ours = Lexicographic.Solve(problem, terms, SearchLimits.None);
            double seconds = sw.Elapsed.TotalSeconds;
            string theirs = "timed out (100 s limit)";
            string ratio = "-";
            if (!(root.TryGetProperty("timed_out", out var t) && t.GetBoolean()))
            {
                var r = root.GetProperty("results");
                double wall = root.GetProperty("mapper_wall_seconds").GetDouble();
                theirs = $"{r.GetProperty("cycles").GetDouble()} cycles, {r.GetProperty("energy_pJ").GetDouble():0.###} pJ, {wall:0.##} s";
                ratio = $"{seconds / wall * 100:0.##} %";
            }
            Console.WriteLine($"  {id} | {ours.Status} {ours.Report?.Cycles} cycles, {ours.Report?.Energy:0.###} pJ, {seconds:0.###} s | {theirs} | {ratio}");
        }
    }

    /// <summary>Evaluations per second of the analytical model on random valid mappings of ResNet-50 layers on eyeriss.</summary>
    private static void CostModelThroughput()
    {
        var arch = Presets.Get("eyeriss");
        var rng = new Random(1);
        var mappings = new List<(Einsum, Mapping)>();
        foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 20; i++)
                if (space.TrySampleValid(rng, 20000, out var m)) mappings.Add((layer, m));
        }
        var sw = Stopwatch.StartNew();
        int evaluations = 0;
        double sink = 0;
        while (sw.Elapsed.TotalSeconds < 3)
            foreach (var (l, m) in mappings) { sink += CostModel.Evaluate(l, arch, m).Energy; evaluations++; }
        Console.WriteLine($"costmodel: {mappings.Count} random valid mappings of ResNet-50 layers on eyeriss; " +
                          $"{evaluations / sw.Elapsed.TotalSeconds:F0} evaluations/s (checker + model), checksum {sink:G3}");
    }

    /// <summary>
    /// The Timeloop convention's model (<c>TimeloopConvention.Evaluate</c>) beside the default model on the same random valid
    /// mappings of ResNet-50's window layers (conv1 and the 3x3 shapes) on eyeriss, Timeloop-expressible ones only: evaluations
    /// per second of each and their ratio, and of the convention's leaf (every spatial order of the mapping, as the search costs one).
    /// </summary>
    private static void TimeloopModelThroughput()
    {
        var arch = Presets.Get("eyeriss");
        var rng = new Random(1);
        var mappings = new List<(Einsum, Mapping)>();
        foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var bound = layer.Ranks.ToDictionary(r => r.Id, r => r.Bound);
            if (!layer.Tensors.Any(t => t.Dims.Any(d => d.Terms.Count(x => bound[x.Rank] > 1) > 1))) continue;
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 20; i++)
                if (space.TrySampleValid(rng, 20000, out var m) && Optimizer.Formulation.Specs.TimeloopMapping.Inexpressible(m, arch) is null) mappings.Add((layer, m));
        }
        double Rate(Func<Einsum, Mapping, double> cost)
        {
            var sw = Stopwatch.StartNew();
            int evaluations = 0;
            double sink = 0;
            while (sw.Elapsed.TotalSeconds < 3)
                foreach (var (l, m) in mappings) { sink += cost(l, m); evaluations++; }
            return evaluations / sw.Elapsed.TotalSeconds;
        }
        double plain = Rate((l, m) => CostModel.Evaluate(l, arch, m).Energy);
        double timeloop = Rate((l, m) => TimeloopConvention.Evaluate(l, arch, m).Energy);
        double leaf = Rate((l, m) => Mapspace.SpatialOrders(m).Min(o => TimeloopConvention.Evaluate(l, arch, o).Energy));
        double orders = mappings.Average(x => Mapspace.SpatialOrders(x.Item2).Count());
        Console.WriteLine($"timeloop-model: {mappings.Count} random valid Timeloop-expressible mappings of ResNet-50's window layers on eyeriss; " +
                          $"default model {plain:F0}/s, Timeloop convention {timeloop:F0}/s ({plain / timeloop:F1}x slower), " +
                          $"a leaf over every spatial order {leaf:F1}/s ({orders:F1} orders on average)");
    }

    /// <summary>
    /// The small case of issue 3: a 1-D convolution (K=32, R=3, P=16) on DRAM, a 1024-word global buffer
    /// and one PE with a 64-word register file (about two million mappings with keep choices): exact
    /// search against brute-force enumeration, in one run.
    /// </summary>
    /// <summary>
    /// Imperfect factorization (<c>map --imperfect</c>): on small layers, the enumeration of the imperfect mapspace beside the
    /// exact search over perfect factors, energy and latency: proved?, times, and the gain; then, for every distinct ResNet-50
    /// shape on eyeriss, how many factor assignments each mapspace has (the product over ranks of each rank's options), which
    /// says why the enumeration cannot prove those layers.
    /// </summary>
    private static void Imperfect(double secondsPerCase)
    {
        var two = (long words) => new Architecture($"two-level-{words}", "DRAM over a buffer", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", words, 16, 1, 1),
        ], new ComputeUnit(1));
        var cases = new (Einsum Layer, Architecture Arch)[]
        {
            (Layers.Gemm("gemm7x7x7", m: 7, n: 7, k: 7), two(32)),
            (Layers.Gemm("gemm7x5x3", m: 7, n: 5, k: 3), two(24)),
            (Layers.Gemm("gemm10x10x6", m: 10, n: 10, k: 6), two(40)),
            (Layers.Conv1d("conv1d-p7", c: 2, k: 3, p: 7, r: 3), two(32)),
            (Layers.Conv1d("conv1d-p13", c: 3, k: 5, p: 13, r: 3), two(40)),
        };
        var limit = new SearchLimits(TimeSpan.FromSeconds(secondsPerCase));
        Console.WriteLine($"imperfect: small layers, {secondsPerCase} s per case and search, one thread for the enumeration");
        Console.WriteLine("layer          arch            objective  imperfect  proved  s       mappings  perfect    proved  s      gain%");
        foreach (var (layer, arch) in cases)
            foreach (var objective in new[] { Objective.Energy, Objective.Latency })
            {
                var p = new MapProblem(layer, arch, objective);
                var i = new ImperfectEnumeration(p).Solve(limit);
                var e = new TilingSearch(p, prune: true).Solve(limit);
                double gain = i.Best is { } ib && e.Best is { } eb ? (1 - ib / eb) * 100 : double.NaN;
                Console.WriteLine($"{layer.Name,-14} {arch.Name,-15} {Objectives.Name(objective),-10} {i.Best,9:G6}  {(i.Status == SolveStatus.Optimal ? "yes" : "no"),-6}  {i.Elapsed.TotalSeconds,5:F2}  {i.Explored,9:N0}  " +
                                  $"{e.Best,9:G6}  {(e.Status == SolveStatus.Optimal ? "yes" : "no"),-6}  {e.Elapsed.TotalSeconds,5:F2}  {gain,5:F1}");
            }
        var eyeriss = Presets.Get("eyeriss");
        Console.WriteLine("imperfect: resnet50 on eyeriss, factor assignments per mapspace (product over ranks of each rank's options; before keep sets and orders)");
        foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var en = new ImperfectEnumeration(new MapProblem(layer, eyeriss, Objective.Energy));
            double all = 1, perfect = 1;
            foreach (var rank in layer.Ranks)
            {
                var options = en.RankOptions(rank);
                all *= options.Count;
                perfect *= options.Count(o => o.Aggregate(1L, (a, f) => a * f) == rank.Bound);
            }
            Console.WriteLine($"  {layer.Name,-10} imperfect {all,10:G3}  perfect {perfect,10:G3}  ratio {all / perfect,8:G3}");
        }
    }

    /// <summary>
    /// Shape traces (<c>map --shapes</c>, docs/shapes.md): a sequence-length trace of 1,000 requests over 100 distinct lengths
    /// from 16 to 512 (seed 21: the lengths drawn without replacement, 16 and 512 always in; each length once, then 900 requests
    /// drawn with Zipf-like weights 1/rank), on a small BERT-like projection Z[S,D] += X[S,E] x W[E,D] (E = D = 4, or as given) over DRAM and a
    /// 64-word buffer (or as given). The one-mapping search with 100 shapes against the same search with the largest shape alone, with and
    /// without pruning; 4 buckets; the regrets against each shape's own optimum.
    /// </summary>
    private static void Shapes(double seconds, int Width, int words)
    {
        var rng = new Random(21);
        var lengths = new SortedSet<int> { 16, 512 };
        while (lengths.Count < 100) lengths.Add(rng.Next(16, 513));
        var byPopularity = lengths.OrderBy(_ => rng.Next()).ToList();
        double[] cumulative = new double[byPopularity.Count];
        double z = 0;
        for (int i = 0; i < cumulative.Length; i++) cumulative[i] = z += 1.0 / (i + 1);
        var layer = Layers.Gemm("proj", m: 512, n: Width, k: Width);
        var arch = new Architecture($"two-level-{words}", $"DRAM over a {words}-word buffer", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", words, 16, 1, 1),
        ], new ComputeUnit(1));
        // Every length once, then 900 requests drawn by popularity: 1,000 requests, 100 distinct lengths.
        var rows = lengths.Select(s => (new[] { s, Width, Width }, 1.0)).ToList();
        for (int i = 0; i < 900; i++)
        {
            double u = rng.NextDouble() * z;
            int k = Array.FindIndex(cumulative, c => c >= u);
            rows.Add(([byPopularity[k], Width, Width], 1));
        }
        var trace = Optimizer.Formulation.Specs.ShapeTrace.FromRows(layer, [0], rows);
        var largest = Optimizer.Formulation.Specs.ShapeTrace.FromRows(layer, [0], [([512, Width, Width], 1)]);
        var limit = new SearchLimits(TimeSpan.FromSeconds(seconds));
        Console.WriteLine($"shapes: {layer} on {arch.Name}; trace of {trace.Rows} requests, {trace.Shapes.Count} distinct lengths " +
                          $"{trace.Shapes.Min(s => s.Sizes[0])}..{trace.Shapes.Max(s => s.Sizes[0])}; {seconds} s per search, one thread");
        string Line(string what, ShapeAnswer r) => $"  {what,-34} {r.Status,-9} {r.Best,12:G8}  {r.Elapsed.TotalSeconds,8:F2} s  {r.Candidates,9:N0} candidates  {r.Evaluations,11:N0} evaluations  {r.Pruned,9:N0} pruned";
        // Warm-up (the JIT), so that the first search timed is not charged for it.
        new ShapeSearch(Optimizer.Formulation.Specs.ShapeTrace.FromRows(layer, [0], [([16, Width, Width], 1), ([40, Width, Width], 1)]), arch, Objective.Energy)
            .Enumerate(ShapeStatistic.Mean, limit);
        var one = new ShapeSearch(largest, arch, Objective.Energy).Enumerate(ShapeStatistic.Mean, limit);
        Console.WriteLine(Line("one shape (S=512), energy", one));
        var search = new ShapeSearch(trace, arch, Objective.Energy);
        var mean = search.Enumerate(ShapeStatistic.Mean, limit);
        Console.WriteLine(Line("100 shapes, mean energy", mean));
        Console.WriteLine($"  time ratio 100 shapes / one shape: {mean.Elapsed / one.Elapsed:F2}");
        var max = search.Enumerate(ShapeStatistic.Max, limit);
        Console.WriteLine(Line("100 shapes, max energy", max));
        var p99 = search.Enumerate(ShapeStatistic.P99, limit);
        Console.WriteLine(Line("100 shapes, p99 energy", p99));
        var plain = search.Enumerate(ShapeStatistic.Mean, limit, prune: false);
        Console.WriteLine(Line("100 shapes, mean energy, no pruning", plain));
        var buckets = search.SolveBuckets(4, ShapeStatistic.Mean, limit);
        Console.WriteLine($"  {"4 buckets, mean energy",-34} {buckets.Status,-9} {buckets.Best,12:G8}  {buckets.Elapsed.TotalSeconds,8:F2} s  {buckets.Candidates,9:N0} candidates  {buckets.Evaluations,11:N0} evaluations");
        foreach (var b in buckets.Buckets ?? [])
            Console.WriteLine($"    S {trace.Shapes[buckets.Order[b.First]].Sizes[0]}..{trace.Shapes[buckets.Order[b.Last]].Sizes[0]}: {b.Mapping.ToCompactString(arch.Levels.Select(l => l.Name).ToList())}");
        var sw = Stopwatch.StartNew();
        var own = search.OwnOptima(limit);
        Console.WriteLine($"  own optima of the 100 shapes: {own.Count(o => o.Status == SolveStatus.Optimal)} proved in {sw.Elapsed.TotalSeconds:F2} s");
        if (mean.Costs is { } costs && buckets.Buckets is { } bs)
        {
            var w = trace.Shapes.Select(s => s.Weight).ToArray();
            var bucketCost = new double[trace.Shapes.Count];
            foreach (var b in bs) for (int p = b.First; p <= b.Last; p++) bucketCost[buckets.Order[p]] = b.Costs[p - b.First];
            void Regret(string what, double[] c)
            {
                var pct = Enumerable.Range(0, c.Length).Select(s => (c[s] - own[s].Best!.Value) / own[s].Best!.Value * 100).ToArray();
                var proved = Enumerable.Range(0, c.Length).Where(s => own[s].Status == SolveStatus.Optimal).ToList();
                Console.WriteLine($"  regret of {what}: weighted mean {ShapeStatistics.Of(ShapeStatistic.Mean, pct, w):F2} %, max {pct.Max():F2} % (S={trace.Shapes[Array.IndexOf(pct, pct.Max())].Sizes[0]}), " +
                                  $"min {pct.Min():F2} %, zero on {pct.Count(x => Math.Abs(x) < 1e-9)} of {c.Length} shapes ({proved.Count(s => Math.Abs(pct[s]) < 1e-9)} of the {proved.Count} whose own optimum is proved)");
            }
            Regret("the one mapping (mean)", costs.ToArray());
            Regret("the 4 buckets (mean)", bucketCost);
            var largestOnly = Enumerable.Range(0, trace.Shapes.Count).Select(s => search.CostOn(one.Mapping!, s)).ToArray();
            Regret("the S=512 optimum run on every shape", largestOnly);
            Console.WriteLine($"  mean energy: S=512 optimum on the trace {ShapeStatistics.Of(ShapeStatistic.Mean, largestOnly, w):G8}, one mapping {mean.Best:G8}, 4 buckets {buckets.Best:G8}, every shape its own optimum {ShapeStatistics.Of(ShapeStatistic.Mean, own.Select(o => o.Best!.Value).ToArray(), w):G8}");
        }
    }

    private static void SmallCase()
    {
        var layer = Layers.Conv1d("conv", c: 1, k: 32, p: 16, r: 3);
        var arch = new Architecture("small3", "DRAM, a global buffer and one PE", [
            new StorageLevel("DRAM", null, 16, 200, 200),
            new StorageLevel("GlobalBuffer", 1024, 16, 6, 6),
            new StorageLevel("RegFile", 64, 16, 1, 1),
        ], new ComputeUnit(1));
        var p = new MapProblem(layer, arch, Objective.Energy);
        var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
        var exact = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
        Console.WriteLine($"small: brute {brute.Status} {brute.Best:G6} pJ in {brute.Elapsed.TotalSeconds:F3} s ({brute.Explored:N0} nodes); " +
                          $"exact {exact.Status} {exact.Best:G6} pJ in {exact.Elapsed.TotalSeconds:F3} s ({exact.Explored:N0} nodes); " +
                          $"speed-up {brute.Elapsed.TotalSeconds / exact.Elapsed.TotalSeconds:F1}x");
    }

    /// <summary>
    /// Every distinct layer shape of ResNet-50 (batch 1) on eyeriss, energy: the exact search under a
    /// per-layer time limit beside the random sampler that stops after 500 consecutive valid mappings
    /// without improvement. Prints both costs, both times, the ratios, and what was proved.
    /// </summary>
    /// <summary>
    /// CP-SAT (<c>--solver cpsat</c>) on every distinct ResNet-50 shape on simple-ws and eyeriss (`cpsat:PRESET`: that preset only;
    /// `cpsat:PRESET:LAYER,LAYER`: those shapes only), energy: its status,
    /// best, bound and gap at the time limit beside the branch and bound's time (limited to the same seconds), and the CPU seconds CP-SAT's solve used (load-independent).
    /// </summary>
    /// <remarks><c>cpsat-floor[:PRESET]</c>: the same with the keeper-path floor (docs/cpsat.md, "Keeper paths").</remarks>
    private static void CpSat(double secondsPerLayer, string[] archNames, bool keeperFloor)
    {
        var limit = new SearchLimits(TimeSpan.FromSeconds(secondsPerLayer));
        foreach (var what in archNames)
        {
            // PRESET or PRESET:LAYER,LAYER,... (those shapes only).
            var archName = what.Split(':')[0];
            var only = what.Contains(':', StringComparison.Ordinal) ? what.Split(':')[1].Split(',').ToHashSet() : null;
            var arch = Presets.Get(archName);
            Console.WriteLine($"cpsat: resnet50 on {archName}, energy, {secondsPerLayer} s per layer and solver, {Environment.ProcessorCount} cores{(keeperFloor ? ", keeper-path floor" : "")}");
            Console.WriteLine("layer        status     cpsat(pJ)   bound(pJ)   gap%  cpsat s  cpu s | b&b status  b&b(pJ)   b&b s");
            int proved = 0, n = 0;
            foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")).Where(x => only is null || only.Contains(x.Item1.Name)))
            {
                var p = new MapProblem(layer, arch, Objective.Energy);
                string status, best = "", bound = "", gap = "", secs = "", cpu = "";
                try
                {
                    // The process's CPU seconds during the solve: what CP-SAT (and the descent's hint) used, whatever the load.
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    var c = Optimizer.Solvers.CpSat.CpSatMapper.Solve(p, limit, keeperFloor);
                    cpu = $"{(Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds:F1}";
                    status = c.Status.ToString();
                    best = $"{c.Best:G6}"; bound = $"{c.Bound:G6}"; gap = $"{c.GapPercent:F1}"; secs = $"{c.Elapsed.TotalSeconds:F1}";
                    if (c.Status == SolveStatus.Optimal) proved++;
                }
                catch (ArgumentException e) { status = "refused"; best = e.Message.Length > 60 ? e.Message[..60] : e.Message; }
                var b = new TilingSearch(p, prune: true).Solve(limit);
                n++;
                Console.WriteLine($"{layer.Name,-12} {status,-9} {best,11} {bound,11} {gap,6} {secs,7} {cpu,6} | {b.Status,-9} {b.Best,10:G6} {b.Elapsed.TotalSeconds,6:F2}");
            }
            Console.WriteLine($"cpsat: {proved}/{n} distinct shapes proved OPTIMAL by CP-SAT within {secondsPerLayer} s on {archName}");
        }
    }

    /// <summary>
    /// <c>cpsat-cases:PRESET:LAYER[:I,J,...]</c> (a ResNet-50 layer; the cases numbered I, J, ... only): the branch and bound's optimum, then CP-SAT's certificate of it
    /// asked in each keep case alone with its keeper-path floor, as <c>--certify cpsat</c> asks it (docs/cpsat.md, "Keep cases"), one after another on one worker, each limited to the
    /// given seconds: where a certificate's time goes.
    /// </summary>
    private static void CpSatCases(double secondsPerCase, string what)
    {
        var parts = what.Split(':');
        var arch = Presets.Get(parts[0]);
        var layer = Zoo.Get("resnet50").Layers.Single(l => l.Name == parts[1]);
        var p = new MapProblem(layer, arch, Objective.Energy);
        var b = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
        Console.WriteLine($"cpsat-cases: {layer.Name} on {arch.Name}, energy; branch and bound {b.Status} {b.Best:G6} in {b.Elapsed.TotalSeconds:F1} s; the optimum's keep case marked *; {secondsPerCase} s per case, one worker");
        var cases = Optimizer.Solvers.CpSat.KeepCase.Of(p);
        if (parts.Length > 2) cases = parts[2].Split(',').Select(i => cases[int.Parse(i, System.Globalization.CultureInfo.InvariantCulture)]).ToList();
        double total = 0;
        int certified = 0;
        foreach (var k in cases)
        {
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var c = Optimizer.Solvers.CpSat.CpSatMapper.Certify(k.Problem, b.Best!.Value, new SearchLimits(TimeSpan.FromSeconds(secondsPerCase), Threads: 1), keeperFloor: true, keepCases: false);
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            total += c.Elapsed.TotalSeconds;
            if (c.Verdict == Optimizer.Solvers.CpSat.CpSatMapper.Verdict.Certified) certified++;
            Console.WriteLine($"{(k.Holds(b.Mapping!) ? "*" : " ")} {c.Verdict,-9} {c.Elapsed.TotalSeconds,7:F1} s {cpu,7:F1} cpu s  {k.Describe(p)}");
        }
        Console.WriteLine($"cpsat-cases: {certified}/{cases.Count} cases certified, {total:F1} s in all");
    }

    private static void ResNet50(double secondsPerLayer)
    {
        var arch = Presets.Get("eyeriss");
        var limit = new SearchLimits(TimeSpan.FromSeconds(secondsPerLayer));
        Console.WriteLine($"resnet50 on eyeriss, energy; exact search limited to {secondsPerLayer} s per layer");
        Console.WriteLine("layer        x  status    exact(pJ)   bound(pJ)   gap%   exact s  random(pJ)  random s  random/exact");
        int optimal = 0, notWorse = 0, n = 0;
        double exactTime = 0, randomTime = 0;
        var times = new List<double>();
        foreach (var (layer, count) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var e = new TilingSearch(p, prune: true).Solve(limit);
            var r = new RandomSampler(p, seed: 1, patience: 500).Solve(SearchLimits.None);
            n++;
            if (e.Status == SolveStatus.Optimal) optimal++;
            if (e.Best is { } eb && (r.Best is not { } rb0 || eb <= rb0 * (1 + 1e-12))) notWorse++;
            exactTime += e.Elapsed.TotalSeconds;
            randomTime += r.Elapsed.TotalSeconds;
            times.Add(e.Elapsed.TotalSeconds);
            Console.WriteLine($"{layer.Name,-12} {count,2}  {e.Status,-8} {e.Best,11:G4} {e.Bound,11:G4} {e.GapPercent,6:F1} {e.Elapsed.TotalSeconds,8:F2} {r.Best,11:G4} {r.Elapsed.TotalSeconds,8:F2} {(r.Best ?? double.NaN) / (e.Best ?? double.NaN),12:F3}");
        }
        times.Sort();
        Console.WriteLine($"resnet50: {optimal}/{n} distinct layers proved optimal; exact never worse than random on {notWorse}/{n}; " +
                          $"median exact time {times[times.Count / 2]:F2} s, total {exactTime:F1} s; random total {randomTime:F1} s");
    }

    /// <summary>
    /// Simulating the best mapping the exact search finds (under the time limit) for ResNet-50 conv3_2_b
    /// on eyeriss: seconds and tile steps per second, and whether the counts agree with the model.
    /// </summary>
    private static void Simulate(double secondsPerLayer)
    {
        var arch = Presets.Get("eyeriss");
        var layer = Zoo.Get("resnet50").Layer("conv3_2_b");
        var found = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(secondsPerLayer)));
        var sw = Stopwatch.StartNew();
        var sim = Simulator.Run(layer, arch, found.Mapping!);
        sw.Stop();
        var disagreements = ModelCheck.Compare(CostModel.Evaluate(layer, arch, found.Mapping!), sim);
        Console.WriteLine($"simulate: resnet50 conv3_2_b on eyeriss ({found.Status} mapping): {sim.TilesSimulated:N0} tile steps in {sw.Elapsed.TotalSeconds:F3} s " +
                          $"= {sim.TilesSimulated / sw.Elapsed.TotalSeconds:N0} tile steps/s; {disagreements.Count} disagreements with the model; cycles {sim.Cycles:N0} vs model {CostModel.Evaluate(layer, arch, found.Mapping!).Cycles:N0}");
    }

    /// <summary>
    /// The fusion certificate (docs/fusion.md, "Certificate") asked of Z3 and of CP-SAT on the same survivors, side by
    /// side: GPT-3 6.7B on tpu-v4i and matmul-chain:8, EDP and energy over the template, one and two shared loops; each
    /// certificate limited to <paramref name="seconds"/>. Prints each solver's answer and time and the ratio.
    /// </summary>
    private static void FusionCertify(double seconds)
    {
        var arch = Presets.Get("tpu-v4i");
        Console.WriteLine($"fusion-certify: the fused search's survivors certified by Z3 and by CP-SAT, {seconds} s per certificate, {Environment.ProcessorCount} cores");
        foreach (var (name, objective, loops) in new[] { ("gpt3-6.7b", Objective.Edp, 1), ("gpt3-6.7b", Objective.Latency, 1), ("matmul-chain:8", Objective.Edp, 1), ("gpt3-6.7b", Objective.Edp, 2) })
        {
            var r = new FusionSearch(new FusionProblem(Zoo.Get(name), arch, objective, loops, TemplateOnly: true)).Solve(SearchLimits.None);
            int survivors = r.Survivors.Sum(x => x.Count);
            var times = new Dictionary<FusionCertifier, (CertificateStatus Status, double Seconds)>();
            foreach (var by in new[] { FusionCertifier.CpSat, FusionCertifier.Z3 })
            {
                var sw = Stopwatch.StartNew();
                var (status, _) = FusionCertificate.Certify(by, arch, objective, r.Survivors, r.Best!.Value, TimeSpan.FromSeconds(seconds));
                times[by] = (status, sw.Elapsed.TotalSeconds);
            }
            var (cp, z3) = (times[FusionCertifier.CpSat], times[FusionCertifier.Z3]);
            Console.WriteLine($"fusion-certify: {name} {Objectives.Name(objective)}, {loops} shared loop(s): search {r.Status} in {r.Elapsed.TotalSeconds:F1} s, {survivors} survivors; " +
                              $"CP-SAT {cp.Status} in {cp.Seconds:F2} s, Z3 {z3.Status} in {z3.Seconds:F2} s; Z3 / CP-SAT time {z3.Seconds / cp.Seconds:F1}x");
        }
    }

    /// <summary>
    /// The fused search (docs/fusion.md) on tpu-v4i, objective EDP, one shared loop at most: GPT-3 6.7B
    /// (batch 1, 8192 tokens) against the best unfused mapping, then matmul-chain:N for N = 2 to 64 with
    /// the runtime per N and the least-squares slope in seconds per Einsum; kept/evaluated per Einsum. Over the per-layer
    /// template (<c>TemplateOnly</c>), as measured since the start: EDP alone now searches the full mapspace (fusion-full:gpt3).
    /// Then the same chains over the full mapspace (<see cref="FusionChainsFull"/>, f17ac: issue 17's line).
    /// </summary>
    private static void Fusion()
    {
        var arch = Presets.Get("tpu-v4i");
        var workload = Zoo.Get("gpt3-6.7b");
        var gpt = new FusionSearch(new FusionProblem(workload, arch, Objective.Edp, TemplateOnly: true)).Solve(SearchLimits.None);
        Console.WriteLine($"fusion: gpt3-6.7b (batch 1, 8192 tokens) on tpu-v4i, EDP: {gpt.Status} in {gpt.Elapsed.TotalSeconds:F2} s; " +
                          $"fused EDP {gpt.Report!.Edp:G4} vs unfused {gpt.UnfusedReport!.Edp:G4} = {gpt.Improvement(Objective.Edp):F3}x better " +
                          $"(energy {gpt.UnfusedReport.Energy / gpt.Report.Energy:F3}x, cycles {(double)gpt.UnfusedReport.Cycles / gpt.Report.Cycles:F3}x); " +
                          $"groups {string.Join(" | ", gpt.Mapping!.Groups.Select(g => string.Join("+", Enumerable.Range(g.First, g.Count).Select(i => workload.Layers[i].Name)) + (g.Count > 1 ? $" (held {string.Join(", ", FusionRules.HeldOf(workload, g))})" : "")))}");
        Console.WriteLine("fusion: kept/evaluated partial mappings per Einsum: " +
                          string.Join(", ", gpt.Stats.Select(s => $"{s.Layer} {s.Kept}/{s.Evaluated} = {(double)s.Kept / s.Evaluated:G3}")));
        foreach (bool reuse in new[] { true, false })
        {
            var points = new List<(double N, double Seconds)>();
            string how = reuse ? "same-shape layers reuse evaluations" : "every layer evaluated afresh";
            foreach (int n in new[] { 2, 4, 8, 16, 32, 64 })
            {
                var r = new FusionSearch(new FusionProblem(Zoo.Get($"matmul-chain:{n}"), arch, Objective.Edp, TemplateOnly: true, ReuseSameShapes: reuse)).Solve(SearchLimits.None);
                points.Add((n, r.Elapsed.TotalSeconds));
                Console.WriteLine($"fusion: matmul-chain:{n,-2} ({how}) {r.Status} in {r.Elapsed.TotalSeconds,7:F2} s = {r.Elapsed.TotalSeconds / n:F3} s per Einsum; " +
                                  $"{r.Improvement(Objective.Edp):F3}x better than unfused; kept/evaluated {r.Stats.Sum(s => s.Kept)}/{r.Stats.Sum(s => s.Evaluated)} " +
                                  $"= {(double)r.Stats.Sum(s => s.Kept) / r.Stats.Sum(s => s.Evaluated):G3}; largest frontier {r.Stats.Max(s => s.Frontier)}");
            }
            var (slope, intercept) = Fit(points);
            Console.WriteLine($"fusion: matmul-chain runtime fit ({how}): {slope:F4} s per Einsum + {intercept:F2} s");
        }
        // The issue's line over the full mapspace (f17ac): the same chains, EDP, every layer's mapping from its whole mapspace.
        FusionChainsFull(pipeline: false, seconds: null, [2, 4, 8, 16, 32, 64], "fusion");
    }

    /// <summary>The least-squares line through (N, seconds): its slope (seconds per Einsum) and intercept.</summary>
    private static (double Slope, double Intercept) Fit(List<(double N, double Seconds)> points)
    {
        double mx = points.Average(p => p.N), my = points.Average(p => p.Seconds);
        double slope = points.Sum(p => (p.N - mx) * (p.Seconds - my)) / points.Sum(p => (p.N - mx) * (p.N - mx));
        return (slope, my - slope * mx);
    }

    /// <summary>
    /// matmul-chain:N on tpu-v4i over the full mapspace (docs/fusion.md, "EDP over the full mapspace"; issue 17's "time per
    /// Einsum flat"), EDP, with <paramref name="pipeline"/> also pipelined groups, without <paramref name="reuse"/> every layer's
    /// classes searched afresh (`fusion-chains-full[:pipeline][:afresh][:N...] [seconds]`); after one untimed run of
    /// matmul-chain:2 (the JIT's warm-up), each N's status, time, time per Einsum and its split over the search's phases
    /// (sampled every 10 ms from its progress phase, digits and what follows a parenthesis folded), then the least-squares
    /// slope. Optional time limit per search.
    /// </summary>
    private static void FusionChainsFull(bool pipeline, double? seconds, List<int> sizes, string tag = "fusion-chains-full", bool reuse = true)
    {
        var arch = Presets.Get("tpu-v4i");
        var points = new List<(double N, double Seconds)>();
        string how = $"full mapspace, EDP{(pipeline ? ", --pipeline" : "")}{(reuse ? "" : ", every layer searched afresh")}";
        var warm = Stopwatch.StartNew();
        new FusionSearch(new FusionProblem(Zoo.Get("matmul-chain:2"), arch, Objective.Edp, Pipeline: pipeline, ReuseSameShapes: reuse))
            .Solve(new SearchLimits(seconds is { } w ? TimeSpan.FromSeconds(w) : null));
        Console.WriteLine($"{tag}: warm-up (matmul-chain:2, untimed below) {warm.Elapsed.TotalSeconds:F2} s");
        foreach (int n in sizes)
        {
            var progress = new SearchProgress();
            var split = new Dictionary<string, double>();
            var sampler = Stopwatch.StartNew();
            using var done = new CancellationTokenSource();
            var thread = new Thread(() =>
            {
                double last = 0;
                while (!done.IsCancellationRequested)
                {
                    Thread.Sleep(10);
                    string phase = System.Text.RegularExpressions.Regex.Replace(progress.Read().Phase.Split('(')[0], "[0-9]+", "#").Trim();
                    double now = sampler.Elapsed.TotalSeconds;
                    lock (split) split[phase] = split.GetValueOrDefault(phase) + now - last;
                    last = now;
                }
            }) { IsBackground = true };
            thread.Start();
            var limits = new SearchLimits(seconds is { } s ? TimeSpan.FromSeconds(s) : null, Progress: progress);
            var r = new FusionSearch(new FusionProblem(Zoo.Get($"matmul-chain:{n}"), arch, Objective.Edp, Pipeline: pipeline, ReuseSameShapes: reuse)).Solve(limits);
            done.Cancel();
            thread.Join();
            points.Add((n, r.Elapsed.TotalSeconds));
            string phases;
            lock (split) phases = string.Join("; ", split.Where(x => x.Value >= 0.05).OrderByDescending(x => x.Value).Select(x => $"{x.Key} {x.Value:F1} s"));
            Console.WriteLine($"{tag}: matmul-chain:{n,-2} ({how}) {r.Status} in {r.Elapsed.TotalSeconds,7:F2} s = {r.Elapsed.TotalSeconds / n:F3} s per Einsum; " +
                              $"EDP {r.Best:G6}{(r.Bound is { } lb && r.Status != SolveStatus.Optimal ? $" bound {lb:G6}" : "")}, {r.Improvement(Objective.Edp):F3}x better than unfused; " +
                              $"classes {r.Stats.Sum(x => x.Classes)}, searched {r.Stats.Sum(x => x.Kept)}; phases: {phases}");
        }
        var (slope, intercept) = Fit(points);
        Console.WriteLine($"{tag}: matmul-chain runtime fit ({how}): {slope:F4} s per Einsum + {intercept:F2} s");
    }

    /// <summary>
    /// The fused search over the full mapspace (docs/fusion.md, issue 17): ResNet-50 on eyeriss, energy, against the
    /// sum of every layer's own optimum (map --all-layers, 2.4001E+10 pJ when measured for the issue) and the template's
    /// fused optimum; GPT-3 6.7B on tpu-v4i, energy and EDP (each full against template). Optional time limit per
    /// fused search; a stopped search prints its bound and gap.
    /// </summary>
    private static void FusionFull(string name, double? seconds)
    {
        var limits = new SearchLimits(seconds is { } s ? TimeSpan.FromSeconds(s) : null);
        string Line(FusionResult r) => $"{r.Status} {r.Best:G6}{(r.Status == SolveStatus.Optimal ? "" : $" bound {r.Bound:G6} gap {r.GapPercent:F3}%")} in {r.Elapsed.TotalSeconds:F1} s";
        void Groups(Workload w, FusionResult r)
        {
            foreach (var g in r.Mapping!.Groups.Where(g => g.Count > 1))
            {
                double fused = r.Report!.EnergyOf(g), alone = r.UnfusedReport!.EnergyOf(g);
                Console.WriteLine($"fusion-full:   {string.Join("+", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name))} shared {g.SharedLoops} held [{string.Join(", ", FusionRules.HeldOf(w, g))}]: {fused:G6} pJ vs {alone:G6} alone ({alone / fused:F3}x)");
            }
        }
        if (name is "fusion-full" or "fusion-full:resnet50")
        {
            var w = Zoo.Get("resnet50");
            var arch = Presets.Get("eyeriss");
            var template = new FusionSearch(new FusionProblem(w, arch, Objective.Energy, TemplateOnly: true)).Solve(limits);
            Console.WriteLine($"fusion-full: resnet50 on eyeriss, energy, template mapspace: {Line(template)}");
            Groups(w, template);
            var full = new FusionSearch(new FusionProblem(w, arch, Objective.Energy)).Solve(limits);
            if (full.UnfusedReport is null)
                Console.WriteLine($"fusion-full: resnet50 on eyeriss, energy, full mapspace: {full.Status} in {full.Elapsed.TotalSeconds:F1} s: {full.Explanation}");
            else
            {
                Console.WriteLine($"fusion-full: resnet50 on eyeriss, energy, full mapspace: {Line(full)}; unfused {full.UnfusedReport.Energy:G6} " +
                              $"({(full.UnfusedProven ? "every layer proven" : "not every layer proven")}; map --all-layers: 2.4001E+10); fused/unfused {full.Best / full.UnfusedReport.Energy:F4}; " +
                              $"{full.Mapping!.Groups.Count(g => g.Count > 1)} fused groups; classes {full.Stats.Sum(x => x.Classes)}, searched exactly {full.Stats.Sum(x => x.Kept)}, search nodes {full.Stats.Sum(x => x.Evaluated):N0}; full/template {full.Best / template.Best:F4}");
                Groups(w, full);
            }
        }
        if (name is "fusion-full" or "fusion-full:gpt3")
        {
            var w = Zoo.Get("gpt3-6.7b");
            var arch = Presets.Get("tpu-v4i");
            var full = new FusionSearch(new FusionProblem(w, arch, Objective.Energy)).Solve(limits);
            var template = new FusionSearch(new FusionProblem(w, arch, Objective.Energy, TemplateOnly: true)).Solve(limits);
            Console.WriteLine($"fusion-full: gpt3-6.7b on tpu-v4i, energy, full mapspace: {Line(full)}; unfused {full.UnfusedReport!.Energy:G6}; template mapspace: {Line(template)}; full/template {full.Best / template.Best:F4}");
            Groups(w, full);
            var edpTemplate = new FusionSearch(new FusionProblem(w, arch, Objective.Edp, TemplateOnly: true)).Solve(limits);
            Console.WriteLine($"fusion-full: gpt3-6.7b on tpu-v4i, EDP, template mapspace: {Line(edpTemplate)}");
            var edp = new FusionSearch(new FusionProblem(w, arch, Objective.Edp)).Solve(limits);
            Console.WriteLine($"fusion-full: gpt3-6.7b on tpu-v4i, EDP, full mapspace: {Line(edp)} ({edp.Summary}); energy {edp.Report?.Energy:G6} pJ, cycles {edp.Report?.Cycles}; full/template {edp.Best / edpTemplate.Best:F4}");
            if (edp.Mapping is not null) Groups(w, edp);
        }
    }

    /// <summary>
    /// Whole-network mapping on multinode (docs/network.md), default options, no time limit: ResNet-50
    /// (batch 1) and MLP-L (784-1500-1000-500-10, batch 64) for each objective; the time, the plan's
    /// totals, and the baseline (every layer alone on all nodes, one after another) with the ratio.
    /// </summary>
    private static void Network()
    {
        var arch = Presets.Get("multinode");
        foreach (var spec in new[] { "resnet50", "mlp-l" })
            foreach (var objective in new[] { Objective.Energy, Objective.Latency, Objective.Edp })
            {
                var w = Zoo.Get(spec);
                var r = new NetworkMapper(new NetworkProblem(w, arch, objective)).Solve(SearchLimits.None);
                var plan = r.Cost;
                var baseline = r.BaselineCost;
                int pipelined = plan.Segments.Count(s => s.Segment.Layout == SegmentLayout.Pipelined);
                Console.WriteLine($"network: {spec,-8} on multinode, {objective.ToString().ToLowerInvariant(),-7} {r.Elapsed.TotalSeconds,6:F2} s " +
                                  $"({r.Candidates} candidates, {r.ChainsSolved} chains solved, {r.Descents} descents); " +
                                  $"plan energy {plan.Energy:G4} pJ, latency {plan.Cycles:G4} cycles, EDP {plan.Edp:G4} " +
                                  $"({plan.Segments.Count} segments, {pipelined} pipelined); baseline energy {baseline.Energy:G4}, latency {baseline.Cycles:G4}, EDP {baseline.Edp:G4}; " +
                                  $"baseline/plan {objective.ToString().ToLowerInvariant()} {baseline.Objective(objective) / plan.Objective(objective):F3}x; " +
                                  $"estimate/solved {r.Estimated / plan.Objective(objective):F3}");
            }
    }

    /// The descent and the random sampler (seed 1, 500 draws of patience) on every distinct layer of
    /// ResNet-50, VGG-16, MobileNetV2 and BERT-base on eyeriss and tpu-v4i (or the one workload and
    /// architecture named as descent:WORKLOAD:ARCH), energy: value, time and evaluations per shape, and
    /// each one's gap to the exact mapper's value in out/regress-WORKLOAD-ARCH.csv (a regress CSV) when
    /// that file exists, as regress computes it (to the better of the two).
    /// </summary>
    private static void DescentSweep(string name)
    {
        var parts = name.Split(':');
        string[] workloads = parts.Length > 1 && parts[1].Length > 0 ? [parts[1]] : ["resnet50", "vgg16", "mobilenetv2", "bert-base"];
        string[] archs = parts.Length > 2 && parts[2].Length > 0 ? [parts[2]] : ["eyeriss", "tpu-v4i"];
        bool withRandom = parts.Length <= 3 || parts[3] != "norandom";
        foreach (var w in workloads)
            foreach (var a in archs)
            {
                var arch = Presets.Get(a);
                var reference = ReadReference(Path.Combine("out", $"regress-{w}-{a}.csv"));
                var descent = new List<(double Gap, double Seconds)>();
                var random = new List<(double Gap, double Seconds)>();
                foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get(w)))
                {
                    var p = new MapProblem(layer, arch, Objective.Energy);
                    var d = new Descent(p).Solve(SearchLimits.None);
                    var line = $"descent {w}/{a} {layer.Name,-18} {d.Best,12:G6} {d.Elapsed.TotalMilliseconds,8:F1} ms {d.Explored,7} evaluations";
                    bool known = reference.TryGetValue(layer.Name, out var exact);
                    if (known)
                    {
                        descent.Add((Gap(d.Best!.Value, exact), d.Elapsed.TotalSeconds));
                        line += $" gap {descent[^1].Gap,8:F3}% (exact {exact:G6})";
                    }
                    if (withRandom)
                    {
                        var r = new RandomSampler(p, 1, 500).Solve(SearchLimits.None);
                        line += $" | random {r.Best,12:G6} {r.Elapsed.TotalMilliseconds,8:F1} ms";
                        if (known)
                        {
                            random.Add((Gap(r.Best!.Value, exact), r.Elapsed.TotalSeconds));
                            line += $" gap {random[^1].Gap,8:F3}%";
                        }
                    }
                    Console.WriteLine(line);
                }
                Console.WriteLine($"descent {w}/{a}: {Summary(descent)}");
                if (withRandom) Console.WriteLine($"random  {w}/{a}: {Summary(random)}");
            }

        static double Gap(double value, double exact) => (value - Math.Min(value, exact)) / Math.Min(value, exact) * 100;

        static string Summary(List<(double Gap, double Seconds)> rows)
        {
            if (rows.Count == 0) return "no reference";
            var g = rows.Select(r => r.Gap).Order().ToList();
            string Within(double pct) => $"{g.Count(x => x <= pct)}/{g.Count}";
            return $"{rows.Sum(r => r.Seconds):F2} s in total; gap mean {g.Average():F3}%, median {g[g.Count / 2]:F3}%, worst {g[^1]:F3}%, within 1%: {Within(1)}, 2%: {Within(2)}, 5%: {Within(5)}";
        }
    }

    private static Dictionary<string, double> ReadReference(string path)
    {
        var result = new Dictionary<string, double>();
        if (!File.Exists(path)) return result;
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        int layer = Array.IndexOf(header, "Layer"), exact = Array.IndexOf(header, "ExactCost");
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            result[f[layer]] = double.Parse(f[exact], System.Globalization.CultureInfo.InvariantCulture);
        }
        return result;
    }
}
