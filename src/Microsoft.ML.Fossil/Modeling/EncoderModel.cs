using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// A BERT-family encoder as Hugging Face's <c>BertModel</c> / <c>RobertaModel</c> builds it:
/// <c>embeddings</c>, <c>encoder</c> and (optionally) <c>pooler</c>, with the same state-dict names.
/// </summary>
public sealed class EncoderModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly Embeddings embeddings;
    readonly Encoder encoder;
    readonly Pooler? pooler;
#pragma warning restore IDE1006

    /// <summary>The configuration the encoder was built from.</summary>
    public EncoderConfig Config { get; }

    /// <summary>Builds an encoder with freshly initialised weights (load a checkpoint next).</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="addPoolingLayer">Whether to create BERT's <c>pooler</c> (Hugging Face's add_pooling_layer).</param>
    public EncoderModel(EncoderConfig config, bool addPoolingLayer) : base(nameof(EncoderModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Native.TorchRuntime.EnsureLoaded();
        config.Validate();
        Config = config;
        embeddings = new Embeddings(config);
        encoder = new Encoder(config);
        pooler = addPoolingLayer ? new Pooler(config) : null;
        RegisterComponents();
        InitializeWeights(this, config.InitializerRange);
    }

    /// <summary>Whether the encoder has BERT's pooler.</summary>
    public bool HasPooler => pooler is not null;

    /// <summary>
    /// inputIds [B, T] int64, tokenTypeIds [B, T] int64, attentionMask [B, T] (1 = token, 0 = padding)
    /// -> last hidden states [B, T, H].
    /// </summary>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        Tensor hidden = embeddings.forward(inputIds, tokenTypeIds);
        Tensor additiveMask = AdditiveMask(attentionMask, hidden.dtype);
        return encoder.forward(hidden, additiveMask).MoveToOuterDisposeScope();
    }

    /// <summary>BERT's pooled output tanh(dense(h[:, 0])) of a sequence output [B, T, H] -> [B, H].</summary>
    public Tensor Pool(Tensor sequenceOutput) =>
        (pooler ?? throw new InvalidOperationException("This encoder was built without a pooler.")).forward(sequenceOutput);

    /// <summary>[B, T] of 1/0 -> [B, 1, 1, T] of 0 / the dtype's lowest value, added to attention scores.</summary>
    internal static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor inverted = ones_like(attentionMask, dtype: dtype) - attentionMask.to(dtype);
        double lowest = dtype switch
        {
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        return (inverted * lowest).unsqueeze(1).unsqueeze(2).MoveToOuterDisposeScope();
    }

    /// <summary>Hugging Face's _init_weights: normal(0, range) for linear and embedding weights, zero biases, unit LayerNorms.</summary>
    internal static void InitializeWeights(nn.Module module, double initializerRange)
    {
        using var noGrad = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case TorchSharp.Modules.Linear linear:
                    nn.init.normal_(linear.weight, 0, initializerRange);
                    if (linear.bias is not null) nn.init.zeros_(linear.bias);
                    break;
                case TorchSharp.Modules.Embedding embedding:
                    nn.init.normal_(embedding.weight!, 0, initializerRange);
                    break;
                case TorchSharp.Modules.LayerNorm norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
            }
        }
    }
}
