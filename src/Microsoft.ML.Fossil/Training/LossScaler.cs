namespace Microsoft.ML.Fossil.Training;

/// <summary>
/// Dynamic loss scaling for fp16 training (as torch.cuda.amp.GradScaler): the loss is multiplied by a large factor before
/// backward so that small gradients do not underflow fp16's range, and the gradients divided by it again. A step whose
/// gradients overflow is skipped and the factor halved; after <see cref="GrowthInterval"/> good steps it doubles.
/// bf16 has fp32's range and needs none.
/// </summary>
internal sealed class LossScaler
{
    /// <summary>Good steps before the scale doubles.</summary>
    public const int GrowthInterval = 2000;

    /// <summary>The first scale (2^16, as PyTorch's).</summary>
    public const double InitialScale = 65536;

    int goodSteps;

    /// <summary>The factor the loss is multiplied by now.</summary>
    public double Scale { get; private set; } = InitialScale;

    /// <summary>Steps skipped because their gradients overflowed.</summary>
    public int SkippedSteps { get; private set; }

    /// <summary>Records a step's outcome; returns whether its update should be applied.</summary>
    /// <exception cref="InvalidOperationException">The gradients overflow even unscaled (the scale fell below 1).</exception>
    public bool Update(bool gradientsFinite, int epoch, int step)
    {
        if (gradientsFinite)
        {
            if (++goodSteps >= GrowthInterval)
            {
                Scale *= 2;
                goodSteps = 0;
            }
            return true;
        }
        SkippedSteps++;
        goodSteps = 0;
        Scale /= 2;
        if (Scale < 1)
            throw new InvalidOperationException(
                $"fp16 training overflowed at epoch {epoch}, step {step}: the gradients are not finite even with the loss unscaled. " +
                "Train in bf16 (Precision.BFloat16, fp32's range) or fp32, or lower the learning rate.");
        return false;
    }
}
