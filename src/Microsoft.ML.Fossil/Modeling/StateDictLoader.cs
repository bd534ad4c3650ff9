using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// A checkpoint that does not fit the model it is loaded into. The message lists every missing,
/// unexpected and wrongly shaped tensor, so one run shows everything that is wrong.
/// </summary>
internal sealed class CheckpointMismatchException : Exception
{
    /// <summary>Model tensors the checkpoint lacks.</summary>
    public IReadOnlyList<string> Missing { get; }
    /// <summary>Checkpoint tensors the model has no place for.</summary>
    public IReadOnlyList<string> Unexpected { get; }
    /// <summary>Tensors present in both with different shapes: name, expected shape, found shape.</summary>
    public IReadOnlyList<(string Name, long[] Expected, long[] Found)> Misshaped { get; }

    internal CheckpointMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<(string, long[], long[])> misshaped)
        : base(Describe(source, missing, unexpected, misshaped))
    {
        Missing = missing;
        Unexpected = unexpected;
        Misshaped = misshaped;
    }

    static string Describe(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<(string Name, long[] Expected, long[] Found)> misshaped)
    {
        var text = new StringBuilder($"The checkpoint '{source}' does not match the model:");
        if (missing.Count > 0) text.Append($" missing tensors ({missing.Count}): {string.Join(", ", missing)}.");
        if (unexpected.Count > 0) text.Append($" unexpected tensors ({unexpected.Count}): {string.Join(", ", unexpected)}.");
        foreach (var (name, expected, found) in misshaped)
            text.Append($" '{name}' has shape [{string.Join(", ", found)}], expected [{string.Join(", ", expected)}].");
        return text.ToString();
    }
}

/// <summary>What a load did: how many tensors were copied and which model tensors were left as initialised.</summary>
/// <param name="Loaded">Number of tensors copied into the model.</param>
/// <param name="LeftInitialised">Model tensors that the checkpoint lacked but were allowed to be missing.</param>
/// <param name="Ignored">Checkpoint tensors that were skipped as known extras (e.g. a masked-LM head).</param>
internal sealed record StateDictLoadReport(int Loaded, IReadOnlyList<string> LeftInitialised, IReadOnlyList<string> Ignored);

/// <summary>Copies a name -> tensor dictionary into a module's parameters and buffers, strictly by default.</summary>
internal static class StateDictLoader
{
    /// <summary>
    /// Copies <paramref name="stateDict"/> into <paramref name="module"/> (names relative to the module).
    /// Each model tensor must be present with the same shape, and each checkpoint tensor must have a
    /// place, except names accepted by <paramref name="mayBeMissing"/> or <paramref name="mayBeIgnored"/>.
    /// Values are converted to the model tensor's dtype and device.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Anything does not match; nothing is reported piecemeal.</exception>
    public static StateDictLoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, string source,
        Func<string, bool>? mayBeMissing = null, Func<string, bool>? mayBeIgnored = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        Dictionary<string, Tensor> target = module.state_dict();
        var missing = new List<string>();
        var leftInitialised = new List<string>();
        var misshaped = new List<(string, long[], long[])>();
        foreach (var (name, tensor) in target)
        {
            if (!stateDict.TryGetValue(name, out Tensor? value))
            {
                if (mayBeMissing?.Invoke(name) == true) leftInitialised.Add(name);
                else missing.Add(name);
            }
            else if (!tensor.shape.SequenceEqual(value.shape))
            {
                misshaped.Add((name, tensor.shape, value.shape));
            }
        }
        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (string name in stateDict.Keys)
        {
            if (target.ContainsKey(name)) continue;
            if (mayBeIgnored?.Invoke(name) == true) ignored.Add(name);
            else unexpected.Add(name);
        }
        if (missing.Count > 0 || unexpected.Count > 0 || misshaped.Count > 0)
            throw new CheckpointMismatchException(source, missing, unexpected, misshaped);

        int loaded = 0;
        Dictionary<string, nn.Module>? owners = null;
        using (no_grad())
        {
            foreach (var (name, tensor) in target)
            {
                if (tensor.is_meta)
                {
                    // A skeleton (see EncoderModel.FromStateDict): the checkpoint's tensor becomes the
                    // parameter itself; a tensor allowed to be missing gets empty storage for its initialiser.
                    owners ??= ModulesByName(module);
                    Tensor adopted = stateDict.TryGetValue(name, out Tensor? stored) ? stored.to(tensor.dtype, CPU)
                                                                                  : empty(tensor.shape, dtype: tensor.dtype);
                    Adopt(module, owners, name, adopted);
                    if (stored is not null) loaded++;
                    continue;
                }
                if (!stateDict.TryGetValue(name, out Tensor? value)) continue;
                using Tensor converted = value.to(tensor.dtype, tensor.device);
                tensor.copy_(converted);
                loaded++;
            }
        }
        return new StateDictLoadReport(loaded, leftInitialised, ignored);
    }

    /// <summary>Every submodule of <paramref name="root"/> by its dotted name.</summary>
    internal static Dictionary<string, nn.Module> ModulesByName(nn.Module root) =>
        root.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);

    /// <summary>The module that holds the state-dict tensor <paramref name="name"/>, and the tensor's name within it.</summary>
    internal static (nn.Module Owner, string Attribute) OwnerOf(nn.Module root, IReadOnlyDictionary<string, nn.Module> modules, string name)
    {
        int dot = name.LastIndexOf('.');
        return (dot < 0 ? root : modules[name[..dot]], name[(dot + 1)..]);
    }

    /// <summary>Makes <paramref name="value"/> the parameter <paramref name="name"/> of its owning module (shares its storage).</summary>
    static void Adopt(nn.Module root, Dictionary<string, nn.Module> owners, string name, Tensor value)
    {
        var (owner, attribute) = OwnerOf(root, owners, name);
        // The parameter outlives any dispose scope the caller is in.
        var parameter = (TorchSharp.Modules.Parameter)new TorchSharp.Modules.Parameter(value, requires_grad: true).DetachFromDisposeScope();
        switch (owner, attribute)
        {
            case (TorchSharp.Modules.Linear linear, "weight"): linear.weight = parameter; break;
            case (TorchSharp.Modules.Linear linear, "bias"): linear.bias = parameter; break;
            case (Modeling.EmbeddingTable embedding, "weight"): embedding.Weight = parameter; break;
            case (TorchSharp.Modules.LayerNorm norm, "weight"): norm.weight = parameter; break;
            case (TorchSharp.Modules.LayerNorm norm, "bias"): norm.bias = parameter; break;
            default:
                parameter.Dispose();
                throw new NotSupportedException($"'{name}' is a tensor of a {owner.GetType().Name}, which a meta skeleton cannot be filled for.");
        }
    }
}
