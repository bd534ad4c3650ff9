using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// An encoder with a sequence-classification head, named as Hugging Face's <c>*ForSequenceClassification</c>: the
/// encoder under <c>bert.</c>, <c>roberta.</c>, <c>distilbert.</c> or <c>electra.</c>, the head under
/// <c>classifier</c> (DistilBERT's also has <c>pre_classifier</c>). One output is regression (similarity
/// scores), more are class logits.
/// </summary>
internal sealed class SequenceClassifier : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    readonly Dropout dropout;
    readonly nn.Module<Tensor, Tensor>? preClassifier;

    /// <summary>The frozen-or-not encoder (Hugging Face prefix <see cref="BackbonePrefix"/>).</summary>
    public EncoderModel Backbone { get; }

    /// <summary>The classification head module (Hugging Face name <c>classifier</c>).</summary>
    public nn.Module<Tensor, Tensor> Classifier { get; }

    /// <summary>How the sequence is pooled.</summary>
    public HeadKind HeadKind { get; }

    /// <summary>Number of outputs: 1 for regression, else the number of classes.</summary>
    public int NumLabels { get; }

    /// <summary>"bert", "roberta", "distilbert" or "electra": the state-dict prefix of the backbone.</summary>
    public string BackbonePrefix { get; }

    /// <summary>The dtype of the head's weights (fp32, also when the backbone computes in bf16 or fp16).</summary>
    public ScalarType HeadType => Classifier.parameters().First().dtype;

    /// <summary>The dtype the backbone computes in (see <see cref="EncoderModel.ComputeType"/>).</summary>
    public ScalarType ComputeType => Backbone.ComputeType;

    /// <summary>State-dict name of the head module.</summary>
    public const string ClassifierName = "classifier";

    /// <summary>State-dict name of DistilBERT's dense layer before the classifier.</summary>
    public const string PreClassifierName = "pre_classifier";

    /// <summary>
    /// The modules of the head <paramref name="headKind"/> on a <paramref name="family"/> encoder: trained in full
    /// beside the adapters (PEFT's modules_to_save).
    /// </summary>
    public static IReadOnlyList<string> HeadModules(EncoderFamily family, HeadKind headKind) =>
        family == EncoderFamily.DistilBert && headKind == HeadKind.Default ? [PreClassifierName, ClassifierName] : [ClassifierName];

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
        BackbonePrefix = EncoderFamilies.Of(config.Family).StateDictPrefix;
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        bool familyHead = headKind == HeadKind.Default;
        Classifier = familyHead && config.Family is (EncoderFamily.Roberta or EncoderFamily.Electra)
            ? new FirstTokenClassificationHead(config, numLabels)
            : nn.Linear(config.HiddenSize, numLabels);
        EncoderModel.InitializeWeights(Classifier, config.InitializerRange);
        if (familyHead && config.Family == EncoderFamily.DistilBert)
        {
            // DistilBertForSequenceClassification: pre_classifier (dim -> dim), ReLU, dropout, classifier.
            preClassifier = nn.Linear(config.HiddenSize, config.HiddenSize);
            EncoderModel.InitializeWeights(preClassifier, config.InitializerRange);
        }

        // Registered by hand: the backbone's name depends on the family.
        register_module(BackbonePrefix, Backbone);
        if (preClassifier is not null) register_module(PreClassifierName, preClassifier);
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
        // The head keeps fp32 weights whatever the backbone computes in: its input is cast up (a no-op in fp32).
        ScalarType head = HeadType;
        Tensor logits = HeadKind switch
        {
            HeadKind.MeanPooling => Classifier.forward(dropout.forward(MeanPool(sequence.to(head), attentionMask))),
            _ when Classifier is FirstTokenClassificationHead => Classifier.forward(sequence.select(1, 0).to(head)),
            _ when preClassifier is not null =>
                Classifier.forward(dropout.forward(nn.functional.relu(preClassifier.forward(sequence.select(1, 0).to(head))))),
            _ => Classifier.forward(dropout.forward(Backbone.Pool(sequence).to(head))),
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
