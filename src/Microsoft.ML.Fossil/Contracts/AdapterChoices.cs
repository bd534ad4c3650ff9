namespace Microsoft.ML.Fossil;

/// <summary>Which parameters a fine-tuning run trains.</summary>
public enum AdapterKind
{
    /// <summary>FOSSIL (MiSS) shard adapters on the target linear layers.</summary>
    Fossil,
    /// <summary>LoRA low-rank adapters on the target linear layers (the baseline).</summary>
    Lora,
    /// <summary>No adapters: every parameter of the model is trained.</summary>
    FullFineTuning,
}

/// <summary>FOSSIL's variants, as PEFT's MiSS <c>init_weights</c> selects them.</summary>
public enum FossilVariant
{
    /// <summary>One shard D[r, out] per layer; the output gains (sum of r-wide input chunks) @ D.</summary>
    Default,
    /// <summary>A shard D[r, mini_r] tiled out / mini_r times along the output: even fewer parameters.</summary>
    Mini,
    /// <summary>Block-affine: B[out / r, r, r] acting on the r x r blocks of W (dW_ij = W_ij B_i + B_i); slower, more memory.</summary>
    Bat,
}

/// <summary>Which biases are trained besides the adapters (PEFT's <c>bias</c>).</summary>
public enum AdapterBias
{
    /// <summary>No bias is trained (PEFT "none").</summary>
    None,
    /// <summary>Every bias of the model is trained (PEFT "all").</summary>
    All,
    /// <summary>Only the biases of adapted layers are trained (PEFT "MiSS_only" / "lora_only").</summary>
    AdapterOnly,
}

/// <summary>How a sequence is reduced to one vector before the classifier.</summary>
public enum HeadKind
{
    /// <summary>
    /// What suits the backbone: mean pooling for sentence-transformers models (trained to be mean-pooled) and BERT
    /// checkpoints without a pooler; otherwise the family's Hugging Face head (RoBERTa's dense+tanh+out_proj on
    /// &lt;s&gt;, BERT's pooler + classifier).
    /// </summary>
    Default,
    /// <summary>Mean of the token states under the attention mask, then a linear classifier (sentence-transformers style).</summary>
    MeanPooling,
}
