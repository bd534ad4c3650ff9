using Microsoft.ML.Fossil.Modeling;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>
/// Adapter targets named per encoder family: DistilBERT's attention projections are <c>q_lin</c>, <c>k_lin</c>,
/// <c>v_lin</c> where BERT's are <c>query</c>, <c>key</c>, <c>value</c>. The friendly names stay accepted as aliases;
/// what a model records is the family's own names (what PEFT needs to find the layers).
/// </summary>
internal static class AdapterTargets
{
    /// <summary>
    /// <paramref name="options"/> for a network of <paramref name="family"/> with head <paramref name="head"/>: friendly
    /// target names replaced by the family's own (the default ["query", "value"] becomes the family's default), and
    /// the default modules to save (["classifier"]) replaced by every module of the head (DistilBERT's default head
    /// adds <c>pre_classifier</c>). Other names are kept as given. A new object; <paramref name="options"/> is unchanged.
    /// </summary>
    public static AdapterOptions ForFamily(AdapterOptions options, EncoderFamily family, HeadKind head)
    {
        ArgumentNullException.ThrowIfNull(options);
        AdapterOptions result = AdapterOptions.FromJson(options.ToJson(), "the adapter options");
        if (options.Kind == AdapterKind.FullFineTuning) return result;
        EncoderFamilies.Layout layout = EncoderFamilies.Of(family);
        result.TargetModules = [.. options.TargetModules.Select(t => Resolve(t, layout)).Distinct(StringComparer.Ordinal)];
        if (options.ModulesToSave.SequenceEqual([SequenceClassifier.ClassifierName]))
            result.ModulesToSave = [.. SequenceClassifier.HeadModules(family, head)];
        return result;
    }

    /// <summary>The family's own name for a target (an alias resolved; anything else unchanged).</summary>
    public static string Resolve(string target, EncoderFamilies.Layout layout) =>
        layout.TargetAliases.TryGetValue(target, out string? own) ? own : target;

    /// <summary>The family of the encoder inside <paramref name="model"/>, if it has one.</summary>
    internal static EncoderFamilies.Layout? LayoutOf(TorchSharp.torch.nn.Module model) => model switch
    {
        SequenceClassifier classifier => EncoderFamilies.Of(classifier.Backbone.Config.Family),
        EncoderModel encoder => EncoderFamilies.Of(encoder.Config.Family),
        _ => model.named_modules().Select(m => m.module).OfType<EncoderModel>().FirstOrDefault() is { } inner
            ? EncoderFamilies.Of(inner.Config.Family)
            : null,
    };
}
