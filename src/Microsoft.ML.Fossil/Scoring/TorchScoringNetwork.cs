using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Scoring;

/// <summary>
/// The TorchSharp network stage for serving: the classifier in evaluation mode, each batch under inference mode.
/// Evaluation mode is set once here and never toggled per call, so concurrent calls are safe.
/// </summary>
internal sealed class TorchScoringNetwork : IScoringNetwork
{
    readonly SequenceClassifier network;
    readonly Device device;
    readonly bool ownsNetwork;

    /// <summary>Serves <paramref name="network"/> on <paramref name="device"/> (where its parameters already are).</summary>
    /// <param name="network">The classifier.</param>
    /// <param name="device">Where inputs are created.</param>
    /// <param name="ownsNetwork">Whether disposing this disposes the network.</param>
    public TorchScoringNetwork(SequenceClassifier network, Device device, bool ownsNetwork)
    {
        this.network = network;
        this.device = device;
        this.ownsNetwork = ownsNetwork;
        network.eval();
    }

    /// <inheritdoc />
    public int OutputCount => network.NumLabels;

    /// <inheritdoc />
    public float[] Run(TokenBatch batch)
    {
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        using NetworkInput input = NetworkInput.From(batch, device);
        Tensor logits = network.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask).to(ScalarType.Float32).cpu();
        return logits.data<float>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (ownsNetwork) network.Dispose();
    }
}
