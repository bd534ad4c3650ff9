// torch's random generator is process-wide: tests that seed it must not interleave, and on the
// 2-core CI machine libtorch already uses both cores inside each test.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
