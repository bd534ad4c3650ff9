using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>What <see cref="AdapterInjector.Apply"/> did to a model.</summary>
/// <param name="AdaptedModules">Full names of the linear layers that received an adapter.</param>
/// <param name="TrainableParameterNames">Names of the parameters left trainable.</param>
/// <param name="TrainableParameters">Number of trainable scalars.</param>
/// <param name="TotalParameters">Number of scalars in the whole model, adapters included.</param>
internal sealed record AdapterReport(
    IReadOnlyList<string> AdaptedModules,
    IReadOnlyList<string> TrainableParameterNames,
    long TrainableParameters,
    long TotalParameters)
{
    /// <summary>Trainable share of all parameters, in percent.</summary>
    public double TrainablePercent => TotalParameters == 0 ? 0 : 100.0 * TrainableParameters / TotalParameters;

    /// <inheritdoc />
    public override string ToString() =>
        $"trainable params: {TrainableParameters:N0} || all params: {TotalParameters:N0} || trainable%: {TrainablePercent:F4} " +
        $"({AdaptedModules.Count} adapted layers)";
}

/// <summary>
/// Puts adapters into a model the way PEFT does: match linear layers by name, wrap each in an
/// adapter layer, swap it in, and leave only the adapters (plus modules to save and the chosen
/// biases) trainable.
/// </summary>
internal static class AdapterInjector
{
    /// <summary>
    /// Adapts <paramref name="model"/> in place per <paramref name="options"/> and freezes everything else.
    /// A target name matches a layer whose full name equals it or ends with "." + it.
    /// </summary>
    /// <exception cref="ArgumentException">A target matches no linear layer (the message lists the valid names), or a layer violates a variant's constraint.</exception>
    public static AdapterReport Apply(nn.Module model, AdapterOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.named_modules().Any(m => m.module is AdaptedLinear))
            throw new InvalidOperationException("The model already has adapters.");

        var adapted = new List<string>();
        if (options.Kind != AdapterKind.FullFineTuning)
        {
            Dictionary<string, nn.Module> modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
            List<string> candidates = [.. modules
                .Where(m => m.Value is Linear && !IsUnder(m.Key, options.ModulesToSave))
                .Select(m => m.Key)];
            List<string> selected = SelectTargets(candidates, options.TargetModules);
            foreach (string name in selected)
            {
                var linear = (Linear)modules[name];
                AdaptedLinear replacement = options.Kind == AdapterKind.Fossil
                    ? new FossilLinear(linear, options.Rank, options.Variant, options.MiniRank, options.Dropout, options.ZeroInit, name)
                    : new LoraLinear(linear, options.Rank, options.LoraAlpha, options.Dropout, options.UseRsLora, options.LoraInit, options.ZeroInit, name);
                Replace(model, modules, name, replacement);
                adapted.Add(name);
            }
        }

        SetTrainable(model, options);
        return Report(model, adapted);
    }

    /// <summary>Counts trainable and total parameters of a model.</summary>
    public static AdapterReport Report(nn.Module model, IReadOnlyList<string>? adaptedModules = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        long trainable = 0, total = 0;
        var names = new List<string>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            total += parameter.numel();
            if (!parameter.requires_grad) continue;
            trainable += parameter.numel();
            names.Add(name);
        }
        adaptedModules ??= [.. model.named_modules().Where(m => m.module is AdaptedLinear).Select(m => m.name)];
        return new AdapterReport(adaptedModules, names, trainable, total);
    }

    /// <summary>Every adapter layer in the model, by full name.</summary>
    public static IReadOnlyList<(string Name, AdaptedLinear Layer)> AdaptedLayers(nn.Module model) =>
        [.. model.named_modules().Where(m => m.module is AdaptedLinear).Select(m => (m.name, (AdaptedLinear)m.module))];

    /// <summary>Folds every adapter into its base weight (exact for FOSSIL and LoRA).</summary>
    public static void MergeAll(nn.Module model)
    {
        foreach (var (_, layer) in AdaptedLayers(model)) layer.Merge();
    }

    /// <summary>Restores every base weight.</summary>
    public static void UnmergeAll(nn.Module model)
    {
        foreach (var (_, layer) in AdaptedLayers(model)) layer.Unmerge();
    }

    /// <summary>Switches every adapter off (base model behaviour) or on.</summary>
    public static void SetAdaptersEnabled(nn.Module model, bool enabled)
    {
        foreach (var (_, layer) in AdaptedLayers(model)) layer.AdapterEnabled = enabled;
    }

    /// <summary>The trainable tensors by state-dict name: what a compact model file must store.</summary>
    public static Dictionary<string, Tensor> TrainableStateDict(nn.Module model) =>
        model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => (Tensor)p.parameter);

    /// <summary>
    /// The wrapped model's own weights under their original names (<c>x.base_layer.weight</c> becomes
    /// <c>x.weight</c>), adapters left out: the base model as it was before <see cref="Apply"/>, merged or not
    /// (merging never writes the base weights). Read-only use: the tensors are the model's own.
    /// </summary>
    public static Dictionary<string, Tensor> BaseStateDict(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var adapterNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, layer) in AdaptedLayers(model))
            foreach (var (parameterName, _) in layer.named_parameters())
                if (!parameterName.StartsWith("base_layer.", StringComparison.Ordinal)) adapterNames.Add($"{name}.{parameterName}");
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in model.state_dict())
        {
            if (adapterNames.Contains(name)) continue;
            result[name.Replace(".base_layer.", ".", StringComparison.Ordinal)] = tensor;
        }
        return result;
    }

    static List<string> SelectTargets(List<string> candidates, IList<string> targets)
    {
        if (targets.Count == 1 && string.Equals(targets[0], AdapterOptions.AllLinear, StringComparison.OrdinalIgnoreCase))
            return candidates;
        var selected = new SortedSet<string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (string target in targets)
        {
            if (string.Equals(target, AdapterOptions.AllLinear, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"\"{AdapterOptions.AllLinear}\" must be the only target module.", nameof(targets));
            List<string> matches = [.. candidates.Where(c => c == target || c.EndsWith("." + target, StringComparison.Ordinal))];
            if (matches.Count == 0) unknown.Add(target);
            selected.UnionWith(matches);
        }
        if (unknown.Count > 0)
        {
            IEnumerable<string> valid = candidates.Select(c => c[(c.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal);
            throw new ArgumentException(
                $"Target module(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))} match no linear layer of the model. " +
                $"Valid names: {string.Join(", ", valid)} (or a dotted suffix of a full name such as 'attention.self.query', or \"{AdapterOptions.AllLinear}\").",
                nameof(targets));
        }
        return [.. selected.OrderBy(name => candidates.IndexOf(name))];
    }

    static bool IsUnder(string name, IEnumerable<string> prefixes) =>
        prefixes.Any(p => name == p || name.StartsWith(p + ".", StringComparison.Ordinal) || name.Contains("." + p + ".", StringComparison.Ordinal) || name.EndsWith("." + p, StringComparison.Ordinal));

    /// <summary>Swaps the submodule at <paramref name="name"/> for <paramref name="replacement"/>: the field and the registration.</summary>
    static void Replace(nn.Module root, Dictionary<string, nn.Module> modules, string name, nn.Module replacement)
    {
        int dot = name.LastIndexOf('.');
        nn.Module parent = dot < 0 ? root : modules[name[..dot]];
        string child = name[(dot + 1)..];
        FieldInfo field = FindField(parent.GetType(), child, replacement.GetType())
            ?? throw new InvalidOperationException(
                $"Cannot adapt '{name}': {parent.GetType().Name} has no replaceable field for it (declare it as Module<Tensor, Tensor>).");
        field.SetValue(parent, replacement);
        parent.register_module(child, null!);
        parent.register_module(child, replacement);
    }

    static FieldInfo? FindField(Type? type, string componentName, Type replacementType)
    {
        for (; type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                string fieldComponentName = field.GetCustomAttribute<ComponentNameAttribute>()?.Name ?? field.Name;
                if (fieldComponentName == componentName && field.FieldType.IsAssignableFrom(replacementType) && !field.IsInitOnly)
                    return field;
            }
        }
        return null;
    }

    static void SetTrainable(nn.Module model, AdapterOptions options)
    {
        bool full = options.Kind == AdapterKind.FullFineTuning;
        foreach (var (_, parameter) in model.named_parameters()) parameter.requires_grad = full;
        if (full) return;

        foreach (var (_, layer) in AdaptedLayers(model))
        {
            foreach (Parameter parameter in layer.AdapterParameters) parameter.requires_grad = true;
            if (options.Bias == AdapterBias.AdapterOnly && layer.BaseLayer.bias is { } bias) bias.requires_grad = true;
        }
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length == 0 || !options.ModulesToSave.Any(m => name == m || name.EndsWith("." + m, StringComparison.Ordinal))) continue;
            foreach (var (_, parameter) in module.named_parameters()) parameter.requires_grad = true;
        }
        if (options.Bias == AdapterBias.All)
        {
            foreach (var (name, parameter) in model.named_parameters())
                if (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal)) parameter.requires_grad = true;
        }
    }
}
