using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Models;

/// <summary>
/// A model's running network: the backbone's encoder with adapters and a head (<see cref="SequenceClassifier"/>) on
/// a device, its tokenizer, and the backbone's tokenizer files (for a self-contained save). Built either fresh for
/// training or from a <see cref="ModelDefinition"/> for serving. Owns the network.
/// </summary>
internal sealed class FineTunedNetwork : IDisposable
{
    /// <summary>Where the backbone's fp32 weights come from again when the network holds them in bf16/fp16 (for a self-contained save).</summary>
    readonly Func<EncoderModel>? reloadPretrained;

    /// <summary>The embedded backbone entry a model was loaded from, kept when the network holds it in bf16/fp16.</summary>
    readonly byte[]? embeddedWeights;

    FineTunedNetwork(SequenceClassifier network, TextTokenizer tokenizer, Device device, LoadedBackbone backbone, AdapterOptions adapter,
        Func<EncoderModel>? reloadPretrained, byte[]? embeddedWeights, MasterWeights? masters)
    {
        Adapter = adapter;
        Network = network;
        Tokenizer = tokenizer;
        Device = device;
        BackboneIdentity = backbone.Identity;
        BackboneTokenizerFiles = backbone.TokenizerFiles;
        this.reloadPretrained = reloadPretrained;
        this.embeddedWeights = embeddedWeights;
        Masters = masters;
    }

    /// <summary>The adapter configuration the network was built with (for training: in the family's own names, see <see cref="AdapterTargets"/>).</summary>
    public AdapterOptions Adapter { get; }

    /// <summary>Encoder, adapters and head.</summary>
    public SequenceClassifier Network { get; }

    /// <summary>The tokenizer the model was trained with.</summary>
    public TextTokenizer Tokenizer { get; }

    /// <summary>Where the network's parameters are.</summary>
    public Device Device { get; }

    /// <summary>The backbone the network was built on.</summary>
    public BackboneIdentity BackboneIdentity { get; }

    /// <summary>The backbone's tokenizer files.</summary>
    public IReadOnlyDictionary<string, byte[]> BackboneTokenizerFiles { get; }

    /// <summary>The dtype the backbone computes in (fp32, bf16 or fp16); adapters and the head are fp32 in every case.</summary>
    public ScalarType ComputeType => Network.ComputeType;

    /// <summary>The fp32 weights training optimises (a network built for training; null for one loaded to serve).</summary>
    public MasterWeights? Masters { get; }

    /// <summary>The head a model on <paramref name="backbone"/> gets for the option <paramref name="requested"/>.</summary>
    public static HeadKind ResolveHead(LoadedBackbone backbone, HeadKind requested) =>
        // What the backbone was pretrained for (mean pooling for sentence-transformers models); BERT checkpoints
        // without a pooler also get mean pooling rather than a random frozen pooler.
        requested == HeadKind.Default && (backbone.PreferredHead == HeadKind.MeanPooling ||
                                          (backbone.Encoder.Config.Family == EncoderFamily.Bert && !backbone.Encoder.HasPooler))
            ? HeadKind.MeanPooling
            : requested;

    /// <summary>
    /// A network to train: <paramref name="backbone"/> (whose encoder it takes over) with a new head seeded by
    /// <paramref name="seed"/> and adapters per <paramref name="adapter"/> (targets and head modules in the family's
    /// own names: <see cref="Adapter"/> is what the model records), on <paramref name="device"/>, its backbone in
    /// <paramref name="computeType"/> (adapters and head fp32; backbone weights that train get fp32 <see cref="Masters"/>).
    /// </summary>
    /// <param name="backbone">The loaded backbone.</param>
    /// <param name="numLabels">Outputs of the head.</param>
    /// <param name="head">The head.</param>
    /// <param name="adapter">The adapters to inject.</param>
    /// <param name="maxLength">The tokenizer's maximum length.</param>
    /// <param name="seed">Seeds the head's initial weights.</param>
    /// <param name="device">Where to train.</param>
    /// <param name="computeType">The backbone's dtype: fp32, bf16 or fp16.</param>
    /// <param name="reloadPretrained">
    /// Loads the backbone's fp32 weights again, for a self-contained save of a network held in bf16/fp16 (null: such a save
    /// is refused).
    /// </param>
    public static FineTunedNetwork ForTraining(LoadedBackbone backbone, int numLabels, HeadKind head, AdapterOptions adapter, int maxLength,
        int seed, Device device, ScalarType computeType = ScalarType.Float32, Func<EncoderModel>? reloadPretrained = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(adapter);
        TextTokenizer tokenizer = backbone.CreateTokenizer(maxLength);
        AdapterOptions own = AdapterTargets.ForFamily(adapter, backbone.Encoder.Config.Family, head);
        manual_seed(seed);
        var network = new SequenceClassifier(backbone.Encoder, numLabels, head);
        MasterWeights? masters = null;
        try
        {
            AdapterInjector.Apply(network, own);
            network.to(device);
            NetworkPrecision.Apply(network, computeType);
            masters = MasterWeights.For(network);
            return new FineTunedNetwork(network, tokenizer, device, backbone, own, reloadPretrained, null, masters);
        }
        catch
        {
            masters?.Dispose();
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The network <paramref name="definition"/> describes, on <paramref name="backbone"/> (whose encoder it takes
    /// over), with the trained tensors loaded, on <paramref name="device"/>, in evaluation mode, adapters merged when
    /// <paramref name="mergeAdapters"/> is set, the backbone in <paramref name="computeType"/> (merged in fp32, then cast).
    /// </summary>
    /// <param name="definition">The model.</param>
    /// <param name="backbone">Its backbone, verified.</param>
    /// <param name="device">Where to serve.</param>
    /// <param name="mergeAdapters">Fold the adapters into the weights.</param>
    /// <param name="computeType">The backbone's dtype for serving: fp32, bf16 or fp16.</param>
    /// <param name="reloadPretrained">Loads the backbone's fp32 weights again for a self-contained save (see <see cref="ForTraining"/>).</param>
    /// <param name="embeddedWeights">The embedded backbone entry the model came with, if any.</param>
    /// <exception cref="BackboneMismatchException">The backbone's configuration or tokenizer differs from the model's.</exception>
    /// <exception cref="InvalidDataException">The trained tensors do not fit the adapter configuration.</exception>
    /// <param name="source">Where the trained tensors came from, for errors (default: the model file).</param>
    public static FineTunedNetwork FromDefinition(ModelDefinition definition, LoadedBackbone backbone, Device device, bool mergeAdapters,
        ScalarType computeType = ScalarType.Float32, Func<EncoderModel>? reloadPretrained = null, byte[]? embeddedWeights = null,
        TensorSource? source = null)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(backbone);
        source ??= TensorSource.ModelFile;
        if (backbone.Encoder.Config.ToJson() != definition.EncoderConfigJson)
            throw new BackboneMismatchException("The backbone's config.json differs from the one the model was trained with.");
        TextTokenizer tokenizer = LoadedBackbone.CreateTokenizer(backbone.Encoder.Config, backbone.TokenizerFiles, backbone.LowerCase, definition.Tokenizer.MaxLength);
        if (tokenizer.Settings.ModelKind != definition.Tokenizer.ModelKind)
            throw new BackboneMismatchException(
                $"The backbone's tokenizer is {tokenizer.Settings.ModelKind}, but the model was trained with {definition.Tokenizer.ModelKind}.");
        if (tokenizer.Settings.VocabularySha256 != definition.Tokenizer.VocabularySha256)
            throw new BackboneMismatchException("The backbone's tokenizer vocabulary differs from the one the model was trained with.");

        var network = new SequenceClassifier(backbone.Encoder, definition.NumLabels, definition.Head);
        AdapterOptions adapter = definition.Adapter;
        try
        {
            AdapterInjector.Apply(network, adapter);
            Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(definition.TrainedTensors, CompactModelFormat.TrainedEntry);
            try
            {
                Dictionary<string, Tensor> expected = AdapterInjector.TrainableStateDict(network);
                List<string> missing = [.. expected.Keys.Where(k => !tensors.ContainsKey(k)).Select(source.KeyName)];
                List<string> unexpected = [.. tensors.Keys.Where(k => !expected.ContainsKey(k)).Select(source.KeyName)];
                // Shapes are checked here too, so that every problem is named as the source names it, in one message.
                List<string> misshaped = [.. expected.Where(p => tensors.TryGetValue(p.Key, out Tensor? t) && !t.shape.SequenceEqual(p.Value.shape))
                    .Select(p => $"'{source.KeyName(p.Key)}' is [{string.Join(", ", tensors[p.Key].shape)}], expected [{string.Join(", ", p.Value.shape)}]")];
                if (missing.Count > 0 || unexpected.Count > 0 || misshaped.Count > 0)
                    throw new InvalidDataException($"{source.Description} do not fit {source.Expectation}: " +
                                                   $"missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}]" +
                                                   (misshaped.Count > 0 ? $", shape mismatches: {string.Join("; ", misshaped)}." : "."));
                StateDictLoader.Load(network, tensors, CompactModelFormat.TrainedEntry, mayBeMissing: name => !expected.ContainsKey(name));
            }
            finally
            {
                foreach (Tensor t in tensors.Values) t.Dispose();
            }
            foreach (var (_, parameter) in network.named_parameters()) parameter.requires_grad = false;
            network.to(device);
            network.eval();
            if (mergeAdapters) AdapterInjector.MergeAll(network);
            NetworkPrecision.Apply(network, computeType);
            // A bf16/fp16 network no longer holds the fp32 weights a self-contained save writes: keep the entry's bytes.
            byte[]? keep = computeType == ScalarType.Float32 ? null : embeddedWeights;
            return new FineTunedNetwork(network, tokenizer, device, backbone, adapter, reloadPretrained, keep, null);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Where trained tensors came from, for errors: what they are called and how a tensor's name is shown.</summary>
    /// <param name="Description">E.g. "The model's trained tensors".</param>
    /// <param name="Expectation">E.g. "its adapter configuration".</param>
    /// <param name="KeyName">Our state-dict name -> the name the source uses.</param>
    internal sealed record TensorSource(string Description, string Expectation, Func<string, string> KeyName)
    {
        /// <summary>A compact model's own entry.</summary>
        public static TensorSource ModelFile { get; } = new("The model's trained tensors", "its adapter configuration", name => name);
    }

    /// <summary>
    /// The running network of a model read from a file: its backbone (embedded in the file, or the one its identity
    /// names, found through <paramref name="settings"/> and verified by hash), with the trained tensors, on
    /// <paramref name="device"/>, adapters merged when <paramref name="mergeAdapters"/> is set, the backbone in
    /// <paramref name="computeType"/>.
    /// </summary>
    public static FineTunedNetwork Load(ModelDefinition definition, EmbeddedBackbone? embedded, BackboneLoadSettings settings, Device device,
        bool mergeAdapters, ScalarType computeType = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(definition);
        LoadedBackbone backbone = embedded is null ? BackboneLoader.Resolve(definition.Backbone, settings) : FromEmbedded(definition, embedded);
        Func<EncoderModel>? reload = embedded is null ? () => BackboneLoader.Resolve(definition.Backbone, settings).Encoder : null;
        try
        {
            return FromDefinition(definition, backbone, device, mergeAdapters, computeType, reload, embedded?.Weights);
        }
        catch
        {
            backbone.Encoder.Dispose();
            throw;
        }
    }

    /// <summary>The backbone a self-contained model carries; for adapter models its weights must hash to the recorded identity.</summary>
    static LoadedBackbone FromEmbedded(ModelDefinition definition, EmbeddedBackbone embedded)
    {
        Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(embedded.Weights, CompactModelFormat.BackboneEntry);
        try
        {
            bool pooler = tensors.Keys.Any(k => k.StartsWith("pooler.", StringComparison.Ordinal));
            EncoderModel encoder = EncoderModel.FromStateDict(definition.EncoderConfig, pooler, tensors, CompactModelFormat.BackboneEntry, out _);
            // Full fine-tuning embeds the trained weights (its pretrained ones were trained in place); the entry's own
            // hash protects them. Adapter models embed the pretrained weights, which must be the recorded backbone.
            if (definition.Adapter.Kind != AdapterKind.FullFineTuning && definition.Backbone.Sha256 is { } expected
                && !string.Equals(WeightsIdentity.Sha256(encoder), expected, StringComparison.OrdinalIgnoreCase))
            {
                encoder.Dispose();
                throw new InvalidDataException("The model's embedded backbone does not match its recorded SHA-256: the file was altered or damaged.");
            }
            return new LoadedBackbone(encoder, definition.Backbone, embedded.TokenizerFiles, definition.Tokenizer.LowerCase);
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// The trained tensors now, as safetensors bytes: what a <see cref="ModelDefinition"/> stores after training. They are
    /// the fp32 <see cref="Masters"/> (the same bytes whatever the backbone computed in).
    /// Call while the network is unmerged and its trained parameters still require gradients (at the end of training).
    /// </summary>
    public byte[] TrainedTensors() => CompactModelFormat.ToSafetensors(Masters?.StateDict() ?? AdapterInjector.TrainableStateDict(Network));

    /// <summary>
    /// The backbone's weights as safetensors bytes, for a self-contained file: the pretrained fp32 weights (for full
    /// fine-tuning, the trained ones), never a merged copy (merging keeps them unchanged), whatever the network computes
    /// in. Reads the network, never writes it. A network held in bf16/fp16 no longer has the fp32 weights: they come from
    /// the embedded entry it was loaded from, from <paramref name="definition"/>'s trained tensors (full fine-tuning), or
    /// from the backbone loaded again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The network is held in bf16/fp16 and was built without a way to load its backbone again.</exception>
    public EmbeddedBackbone EmbeddedBackbone(ModelDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        Dictionary<string, Tensor> held = AdapterInjector.BaseStateDict(Network.Backbone);
        if (ComputeType == ScalarType.Float32) return new(CompactModelFormat.ToSafetensors(held), BackboneTokenizerFiles);
        if (embeddedWeights is not null) return new(embeddedWeights, BackboneTokenizerFiles);
        if (definition.Adapter.Kind == AdapterKind.FullFineTuning)
        {
            Dictionary<string, Tensor> trained = CompactModelFormat.FromSafetensors(definition.TrainedTensors, CompactModelFormat.TrainedEntry);
            try
            {
                string prefix = Network.BackbonePrefix + ".";
                return new(CompactModelFormat.ToSafetensors(held.Keys.ToDictionary(k => k, k => trained[prefix + k])), BackboneTokenizerFiles);
            }
            finally
            {
                foreach (Tensor t in trained.Values) t.Dispose();
            }
        }
        if (reloadPretrained is null)
            throw new InvalidOperationException(
                $"The backbone is held in {Native.PrecisionSupport.Name(ComputeType)} and its fp32 weights cannot be loaded again to embed them; save without embedding the backbone.");
        using EncoderModel pretrained = reloadPretrained();
        Dictionary<string, Tensor> fresh = pretrained.state_dict();
        // The same names in the same order as an fp32 network writes them.
        return new(CompactModelFormat.ToSafetensors(held.Keys.ToDictionary(k => k, k => fresh[k])), BackboneTokenizerFiles);
    }

    /// <summary>Whether every adapter is merged into its layer's weight.</summary>
    public bool AdaptersMerged => AdapterInjector.AdaptedLayers(Network) is { Count: > 0 } layers && layers.All(l => l.Layer.Merged);

    /// <summary>Trainable and total parameter counts.</summary>
    public AdapterReport ParameterReport() => AdapterInjector.Report(Network);

    /// <inheritdoc />
    public void Dispose()
    {
        Masters?.Dispose();
        Network.Dispose();
    }
}
