namespace Microsoft.ML.Fossil;

/// <summary>Training diverged: the loss became NaN or infinite. No weights of that state are kept.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, int step, double loss)
        : base($"Training diverged at epoch {epoch}, step {step}: the loss is {loss}. Lower the learning rate, check the labels for NaN or huge values, or enable gradient clipping.")
    {
        Epoch = epoch;
        Step = step;
        Loss = loss;
    }

    /// <summary>1-based epoch of the failing step.</summary>
    public int Epoch { get; }
    /// <summary>1-based step within the epoch.</summary>
    public int Step { get; }
    /// <summary>The non-finite loss.</summary>
    public double Loss { get; }
}

/// <summary>The backbone found is not the one a model was trained on, or it was not found at all.</summary>
public sealed class BackboneMismatchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BackboneMismatchException(string message) : base(message) { }
}
