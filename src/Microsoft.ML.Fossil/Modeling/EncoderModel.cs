using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// A BERT-family encoder as Hugging Face's <c>BertModel</c> / <c>RobertaModel</c> builds it:
/// <c>embeddings</c>, <c>encoder</c> and (optionally) <c>pooler</c>, with the same state-dict names.
/// </summary>
internal sealed class EncoderModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
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
    public EncoderModel(EncoderConfig config, bool addPoolingLayer) : this(config, addPoolingLayer, device: null)
    {
    }

    EncoderModel(EncoderConfig config, bool addPoolingLayer, Device? device) : base(nameof(EncoderModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Native.TorchRuntime.EnsureLoaded();
        config.Validate();
        Config = config;
        embeddings = new Embeddings(config, device);
        encoder = new Encoder(config, device);
        pooler = addPoolingLayer ? new Pooler(config, device) : null;
        RegisterComponents();
        if (device is not { type: DeviceType.META }) InitializeWeights(this, config.InitializerRange);
    }

    /// <summary>
    /// Builds the encoder as a skeleton of <c>meta</c> tensors and fills it from <paramref name="stateDict"/>,
    /// which the encoder then owns: the checkpoint's tensors become the parameters (converted only where
    /// the dtype differs), so loading neither draws random weights that would be overwritten nor copies
    /// the weights a second time. Tensors that <paramref name="mayBeMissing"/> lets the checkpoint lack
    /// get Hugging Face's initial values. Returned in evaluation mode.
    /// </summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="addPoolingLayer">Whether to create BERT's <c>pooler</c>.</param>
    /// <param name="stateDict">Name -> tensor, names relative to the encoder; see <see cref="StateDictLoader.Load"/>.</param>
    /// <param name="source">Names the checkpoint in errors.</param>
    /// <param name="report">What was loaded, initialised and ignored.</param>
    /// <param name="mayBeMissing">Model tensors the checkpoint may lack.</param>
    /// <param name="mayBeIgnored">Checkpoint tensors the encoder may skip.</param>
    /// <exception cref="CheckpointMismatchException">The checkpoint does not fill the encoder exactly.</exception>
    internal static EncoderModel FromStateDict(EncoderConfig config, bool addPoolingLayer, IReadOnlyDictionary<string, Tensor> stateDict,
        string source, out StateDictLoadReport report, Func<string, bool>? mayBeMissing = null, Func<string, bool>? mayBeIgnored = null)
    {
        var model = new EncoderModel(config, addPoolingLayer, META);
        try
        {
            report = StateDictLoader.Load(model, stateDict, source, mayBeMissing, mayBeIgnored);
            if (report.LeftInitialised.Count > 0) InitializeTensors(model, report.LeftInitialised, config.InitializerRange);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
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

    /// <summary>Hugging Face's _init_weights: normal(0, range) for linear and embedding weights (padding rows zero), zero biases, unit LayerNorms.</summary>
    internal static void InitializeWeights(nn.Module module, double initializerRange)
    {
        using var noGrad = no_grad();
        foreach (var (_, child) in module.named_modules())
            if (child is TorchSharp.Modules.Linear or EmbeddingTable or TorchSharp.Modules.LayerNorm)
                foreach (var (name, parameter) in child.named_parameters(recurse: false))
                    InitializeTensor(child, name, parameter, initializerRange);
    }

    /// <summary>The same initial values for the named tensors only (those a checkpoint was allowed to lack).</summary>
    static void InitializeTensors(nn.Module module, IEnumerable<string> names, double initializerRange)
    {
        using var noGrad = no_grad();
        Dictionary<string, Tensor> tensors = module.state_dict();
        Dictionary<string, nn.Module> modules = StateDictLoader.ModulesByName(module);
        foreach (string name in names)
        {
            var (owner, attribute) = StateDictLoader.OwnerOf(module, modules, name);
            InitializeTensor(owner, attribute, tensors[name], initializerRange);
        }
    }

    /// <summary>One tensor of a linear, embedding or LayerNorm module: biases zero, LayerNorm weights one, other weights normal(0, range) with an embedding's padding row zero.</summary>
    static void InitializeTensor(nn.Module owner, string attribute, Tensor tensor, double initializerRange)
    {
        if (attribute == "bias") nn.init.zeros_(tensor);
        else if (owner is TorchSharp.Modules.LayerNorm) nn.init.ones_(tensor);
        else
        {
            nn.init.normal_(tensor, 0, initializerRange);
            if (owner is EmbeddingTable { PaddingIndex: { } padding }) tensor[padding].zero_();
        }
    }
}
