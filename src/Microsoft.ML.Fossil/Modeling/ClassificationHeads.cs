using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Hugging Face's RobertaClassificationHead and ElectraClassificationHead (<c>classifier.dense</c>,
/// <c>classifier.out_proj</c>): dropout, dense, activation (tanh for RoBERTa, GELU for ELECTRA), dropout,
/// out_proj on the first token's state.
/// </summary>
internal sealed class FirstTokenClassificationHead : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> dense;
    readonly Dropout dropout;
    internal nn.Module<Tensor, Tensor> out_proj;
#pragma warning restore IDE1006
    readonly bool gelu;

    /// <summary>Creates the head with <paramref name="numLabels"/> outputs, with <paramref name="config"/>'s family's activation.</summary>
    public FirstTokenClassificationHead(EncoderConfig config, int numLabels) : base(nameof(FirstTokenClassificationHead))
    {
        if (config.Family is not (EncoderFamily.Roberta or EncoderFamily.Electra))
            throw new ArgumentException($"model_type '{config.ModelType}' has no dense + out_proj classification head.", nameof(config));
        gelu = config.Family == EncoderFamily.Electra;
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        out_proj = nn.Linear(config.HiddenSize, numLabels);
        RegisterComponents();
    }

    /// <summary>First-token states [B, H] -> logits [B, labels].</summary>
    public override Tensor forward(Tensor firstToken)
    {
        using var scope = NewDisposeScope();
        Tensor x = dense.forward(dropout.forward(firstToken));
        x = gelu ? nn.functional.gelu(x) : x.tanh();
        return out_proj.forward(dropout.forward(x)).MoveToOuterDisposeScope();
    }
}
