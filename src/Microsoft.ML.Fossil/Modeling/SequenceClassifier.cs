using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// An encoder with a sequence-classification head, named as Hugging Face's
/// <c>BertForSequenceClassification</c> / <c>RobertaForSequenceClassification</c>: the encoder under
/// <c>bert.</c> or <c>roberta.</c>, the head under <c>classifier</c>. One output is regression
/// (similarity scores), more are class logits.
/// </summary>
internal sealed class SequenceClassifier : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    readonly Dropout dropout;

    /// <summary>The frozen-or-not encoder (Hugging Face prefix <see cref="BackbonePrefix"/>).</summary>
    public EncoderModel Backbone { get; }

    /// <summary>The classification head module (Hugging Face name <c>classifier</c>).</summary>
    public nn.Module<Tensor, Tensor> Classifier { get; }

    /// <summary>How the sequence is pooled.</summary>
    public HeadKind HeadKind { get; }

    /// <summary>Number of outputs: 1 for regression, else the number of classes.</summary>
    public int NumLabels { get; }

    /// <summary>"bert" or "roberta": the state-dict prefix of the backbone.</summary>
    public string BackbonePrefix { get; }

    /// <summary>State-dict name of the head module.</summary>
    public const string ClassifierName = "classifier";

    /// <summary>Wraps <paramref name="backbone"/> with a new, randomly initialised head.</summary>
    public SequenceClassifier(EncoderModel backbone, int numLabels, HeadKind headKind = HeadKind.Default) : base(nameof(SequenceClassifier))
    {
        ArgumentNullException.ThrowIfNull(backbone);
        if (numLabels < 1) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "A classifier needs at least one output (1 = regression).");
        EncoderConfig config = backbone.Config;
        if (headKind == HeadKind.Default && config.Family == EncoderFamily.Bert && !backbone.HasPooler)
            throw new ArgumentException("BERT's default head needs the encoder's pooler; build the encoder with addPoolingLayer: true or use HeadKind.MeanPooling.", nameof(headKind));

        Backbone = backbone;
        HeadKind = headKind;
        NumLabels = numLabels;
        BackbonePrefix = config.Family == EncoderFamily.Roberta ? "roberta" : "bert";
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        Classifier = headKind == HeadKind.Default && config.Family == EncoderFamily.Roberta
            ? new RobertaClassificationHead(config, numLabels)
            : nn.Linear(config.HiddenSize, numLabels);
        EncoderModel.InitializeWeights(Classifier, config.InitializerRange);

        // Registered by hand: the backbone's name depends on the family.
        register_module(BackbonePrefix, Backbone);
        register_module(ClassifierName, Classifier);
        register_module("dropout", dropout);
    }

    /// <summary>Registration is explicit in the constructor (the backbone's name is not a field name).</summary>
    protected override void RegisterComponents() { }

    /// <summary>inputIds, tokenTypeIds, attentionMask: [B, T] int64 -> logits [B, labels].</summary>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        Tensor sequence = Backbone.forward(inputIds, tokenTypeIds, attentionMask);
        Tensor logits = HeadKind switch
        {
            HeadKind.MeanPooling => Classifier.forward(dropout.forward(MeanPool(sequence, attentionMask))),
            _ when Classifier is RobertaClassificationHead => Classifier.forward(sequence.select(1, 0)),
            _ => Classifier.forward(dropout.forward(Backbone.Pool(sequence))),
        };
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Mean of [B, T, H] over positions where attentionMask [B, T] is 1 -> [B, H].</summary>
    public static Tensor MeanPool(Tensor sequence, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        Tensor mask = attentionMask.to(sequence.dtype).unsqueeze(-1);
        Tensor summed = (sequence * mask).sum(1);
        Tensor counts = mask.sum(1).clamp_min(1e-9);
        return (summed / counts).MoveToOuterDisposeScope();
    }
}
