using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Training;

/// <summary>
/// The fp32 weights the optimizer updates. Trainable parameters in fp32 (adapters, the head) are their own master;
/// trainable parameters the network holds in bf16/fp16 (backbone weights that train: full fine-tuning, trained biases)
/// get an fp32 copy: gradients are cast up into it, clipping and AdamW run on it, and the network's copy is refreshed from
/// it after each step, so small updates are never lost to bf16 rounding. The trained tensors a model saves are these.
/// </summary>
internal sealed class MasterWeights : IDisposable
{
    /// <summary>One trainable parameter: the network's and the master (the same object when the network's is fp32).</summary>
    /// <param name="Name">State-dict name.</param>
    /// <param name="Network">The parameter the network computes with.</param>
    /// <param name="Master">What the optimizer updates (fp32).</param>
    internal sealed record Entry(string Name, Parameter Network, Parameter Master)
    {
        /// <summary>Whether the master is a separate fp32 copy.</summary>
        public bool IsCopy => !ReferenceEquals(Network, Master);
    }

    MasterWeights(List<Entry> entries) => Entries = entries;

    /// <summary>Every trainable parameter of the network, in state-dict order.</summary>
    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>Whether any parameter has a separate master copy.</summary>
    public bool HasCopies => Entries.Any(e => e.IsCopy);

    /// <summary>The masters of <paramref name="model"/>'s trainable parameters (fp32 copies of those in bf16/fp16).</summary>
    public static MasterWeights For(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var entries = new List<Entry>();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!parameter.requires_grad) continue;
            Parameter master = parameter.dtype is ScalarType.BFloat16 or ScalarType.Float16
                ? (Parameter)new Parameter(parameter.detach().to(ScalarType.Float32), requires_grad: true).DetachFromDisposeScope()
                : parameter;
            entries.Add(new Entry(name, parameter, master));
        }
        return new MasterWeights(entries);
    }

    /// <summary>The masters by name (fp32): what a model stores as its trained tensors. Owned by this object.</summary>
    public Dictionary<string, Tensor> StateDict() => Entries.ToDictionary(e => e.Name, e => (Tensor)e.Master);

    /// <summary>Clears the gradients of the network's copies (the optimizer clears the masters').</summary>
    public void ClearNetworkGradients()
    {
        foreach (Entry e in Entries.Where(e => e.IsCopy))
        {
            using Tensor? grad = e.Network.grad;
            grad?.zero_();
        }
    }

    /// <summary>
    /// After backward: puts every gradient into its master in fp32, multiplied by <paramref name="unscale"/> (1 / the loss
    /// scale, or 1). Returns whether every gradient is finite (an fp16 overflow makes some infinite or NaN).
    /// </summary>
    public bool TakeGradients(double unscale)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var finite = new List<Tensor>(Entries.Count);
        foreach (Entry e in Entries)
        {
            Tensor? grad = e.Network.grad;
            if (grad is null) continue;
            if (e.IsCopy)
            {
                Tensor up = grad.to(ScalarType.Float32, copy: true);
                if (unscale != 1) up.mul_(unscale);
                e.Master.grad = up;
            }
            else if (unscale != 1)
            {
                grad.mul_(unscale);
            }
            if (unscale != 1) finite.Add(e.Master.grad!.isfinite().all());
        }
        return finite.Count == 0 || stack(finite).all().item<bool>();
    }

    /// <summary>After the optimizer step: the network's bf16/fp16 copies take the masters' new values (rounded once).</summary>
    public void Publish()
    {
        using var noGrad = no_grad();
        foreach (Entry e in Entries.Where(e => e.IsCopy)) e.Network.copy_(e.Master);
    }

    /// <summary>Sets every master (and the network's copy) to <paramref name="values"/>, by name.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> values)
    {
        using var noGrad = no_grad();
        foreach (Entry e in Entries) e.Master.copy_(values[e.Name]);
        Publish();
    }

    /// <summary>Releases the fp32 copies.</summary>
    public void Dispose()
    {
        foreach (Entry e in Entries.Where(e => e.IsCopy)) e.Master.Dispose();
    }
}
