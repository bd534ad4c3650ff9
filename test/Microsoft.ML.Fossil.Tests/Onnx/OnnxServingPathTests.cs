using System.Text.RegularExpressions;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// The ONNX Runtime model's load, scoring and save path names no TorchSharp type, checked on the sources (the consumer
/// app test, OnnxRuntimeMiniLmTests, checks the running process: no TorchSharp assembly, no libtorch).
/// </summary>
public sealed partial class OnnxServingPathTests
{
    /// <summary>Every source file the path uses, relative to src/Microsoft.ML.Fossil (folders: every file in them).</summary>
    static readonly string[] ServingPath =
    [
        "FossilOnnxRuntimeTransformer.cs",
        "MLNet/OnnxTransformerCore.cs", "MLNet/ScoringTransformerCore.cs", "MLNet/ScoringDataViews.cs", "MLNet/RowMapping.cs",
        "Onnx/OnnxRuntimeNetwork.cs", "Onnx/OnnxScoringModel.cs", "Onnx/OnnxClassifierContract.cs",
        "Scoring/IScoringNetwork.cs", "Scoring/TextScorer.cs", "Scoring/Scorer.cs",
        "Collation/", "Tokenization/", "MLNetInternals/", "Contracts/",
    ];

    static string SourceFolder([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", "..", "src", "Microsoft.ML.Fossil"));

    [Fact]
    public void The_files_of_the_ONNX_Runtime_serving_path_name_no_TorchSharp_type()
    {
        string root = SourceFolder();
        var files = new List<string>();
        foreach (string entry in ServingPath)
        {
            string path = Path.Combine(root, entry);
            if (entry.EndsWith('/'))
            {
                Assert.True(Directory.Exists(path), $"{entry} is not a folder of the library");
                files.AddRange(Directory.GetFiles(path, "*.cs"));   // top level only: MLNetInternals/build is a build-time task
            }
            else
            {
                Assert.True(File.Exists(path), $"{entry} is not a file of the library");
                files.Add(path);
            }
        }
        Assert.True(files.Count > 30, $"only {files.Count} files");
        var violations = new List<string>();
        foreach (string file in files)
        {
            string code = CommentOrString().Replace(File.ReadAllText(file), " ");
            foreach (Match use in TorchUse().Matches(code))
                violations.Add($"{Path.GetRelativePath(root, file)}: {use.Value}");
        }
        Assert.Empty(violations);
    }

    [GeneratedRegex(@"//[^\n]*|/\*[\s\S]*?\*/|@?\$?""(?:\\.|""""|[^""\\])*""")]
    private static partial Regex CommentOrString();

    /// <summary>The namespace, the static class, or the library's own TorchSharp-side types.</summary>
    [GeneratedRegex(@"\bTorchSharp\b|\btorch\.|\b(SequenceClassifier|FineTunedNetwork|TorchScoringNetwork|NetworkInput|TorchRuntime|LoadedBackbone|CompactModelFormat|EncoderModel|DeviceChoice)\b")]
    private static partial Regex TorchUse();
}
