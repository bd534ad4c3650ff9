using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Hugging Face's RobertaClassificationHead (<c>classifier.dense</c>, <c>classifier.out_proj</c>):
/// dropout, dense, tanh, dropout, out_proj on the first token's state.
/// </summary>
internal sealed class RobertaClassificationHead : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> dense;
    readonly Dropout dropout;
    internal nn.Module<Tensor, Tensor> out_proj;
#pragma warning restore IDE1006

    /// <summary>Creates the head with <paramref name="numLabels"/> outputs.</summary>
    public RobertaClassificationHead(EncoderConfig config, int numLabels) : base(nameof(RobertaClassificationHead))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        out_proj = nn.Linear(config.HiddenSize, numLabels);
        RegisterComponents();
    }

    /// <summary>First-token states [B, H] -> logits [B, labels].</summary>
    public override Tensor forward(Tensor firstToken)
    {
        using var scope = NewDisposeScope();
        Tensor x = dense.forward(dropout.forward(firstToken)).tanh();
        return out_proj.forward(dropout.forward(x)).MoveToOuterDisposeScope();
    }
}
