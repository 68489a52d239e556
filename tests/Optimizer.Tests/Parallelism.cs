// Test classes run two at a time: the suite is long (about an hour on a 2-core machine, one class after another) and
// most of its searches keep fewer than two cores busy. Tests within a class still run one after another, and a class
// that changes what the whole process shares (the console of a signalled child, a fixed folder, a clock it measures)
// carries [DoNotParallelize]. CommandLine routes the console per run so in-process commands of two classes do not mix.
[assembly: Parallelize(Workers = 2, Scope = ExecutionScope.ClassLevel)]
