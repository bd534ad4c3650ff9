using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.Tokenization;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// A Hugging Face folder of the DistilBERT, ELECTRA or XLM-RoBERTa family: the published config.json shrunk to a
/// tiny random encoder (2 layers, width 32), model.safetensors in the family's real state-dict layout (the
/// backbone under its prefix plus the pretraining head its published checkpoint carries), and real tokenizer files
/// (bert-base-uncased's vocab.txt; ALBERT's SentencePiece model in XLM-R's place), or only a tokenizer.json.
/// </summary>
internal sealed class TinyFamilyBackbone : IDisposable
{
    public TinyFamilyBackbone(string modelType, bool tokenizerJsonOnly = false, long seed = 5)
    {
        Folder = Directory.CreateTempSubdirectory($"fossil-tiny-{modelType}-").FullName;
        JsonObject config = modelType switch
        {
            "distilbert" => JsonNode.Parse(FamilyTokenizerData.DistilBertBaseUncasedConfig)!.AsObject(),
            "electra" => JsonNode.Parse(FamilyTokenizerData.ElectraSmallDiscriminatorConfig)!.AsObject(),
            "xlm-roberta" => FamilyTokenizerData.XlmRobertaConfig(),
            _ => throw new ArgumentException(modelType, nameof(modelType)),
        };
        if (modelType == "distilbert")
        {
            config["dim"] = 32; config["n_layers"] = 2; config["n_heads"] = 4; config["hidden_dim"] = 64;
        }
        else
        {
            config["hidden_size"] = 32; config["num_hidden_layers"] = 2; config["num_attention_heads"] = 4; config["intermediate_size"] = 64;
            if (modelType == "electra") config["embedding_size"] = 16;   // narrower than the hidden states: embeddings_project
            else config["max_position_embeddings"] = 66;
        }
        File.WriteAllText(Path.Combine(Folder, "config.json"), config.ToJsonString());
        switch (modelType)
        {
            case "distilbert":
                FamilyTokenizerData.WriteDistilBertFolder(Folder, tokenizerJsonOnly);
                break;
            case "electra":
                FamilyTokenizerData.WriteElectraFolder(Folder, tokenizerJsonOnly);
                break;
            default:
                FamilyTokenizerData.WriteXlmRobertaFolder(Folder, tokenizerJsonOnly, config);
                break;
        }
        File.WriteAllText(Path.Combine(Folder, "config.json"), config.ToJsonString());
        Config = EncoderConfig.FromJson(config.ToJsonString());

        manual_seed(seed);
        using var encoder = new EncoderModel(Config, addPoolingLayer: false);
        string prefix = EncoderFamilies.Of(Config.Family).StateDictPrefix + ".";
        var state = encoder.state_dict().ToDictionary(p => prefix + p.Key, p => p.Value);
        int hidden = Config.HiddenSize;
        // The pretraining head each published checkpoint carries (DistilBertForMaskedLM, ElectraForPreTraining,
        // XLMRobertaForMaskedLM), which loading a backbone skips.
        Dictionary<string, long[]> head = modelType switch
        {
            "distilbert" => new() { ["vocab_transform.weight"] = [hidden, hidden], ["vocab_transform.bias"] = [hidden],
                                    ["vocab_layer_norm.weight"] = [hidden], ["vocab_layer_norm.bias"] = [hidden], ["vocab_projector.bias"] = [Config.VocabSize] },
            "electra" => new() { ["discriminator_predictions.dense.weight"] = [hidden, hidden], ["discriminator_predictions.dense.bias"] = [hidden],
                                 ["discriminator_predictions.dense_prediction.weight"] = [1, hidden], ["discriminator_predictions.dense_prediction.bias"] = [1] },
            _ => new() { ["lm_head.dense.weight"] = [hidden, hidden], ["lm_head.dense.bias"] = [hidden], ["lm_head.layer_norm.weight"] = [hidden],
                         ["lm_head.layer_norm.bias"] = [hidden], ["lm_head.bias"] = [Config.VocabSize] },
        };
        var extras = head.ToDictionary(p => p.Key, p => randn(p.Value));
        foreach (var (name, tensor) in extras) state[name] = tensor;
        Safetensors.SaveStateDict(Path.Combine(Folder, "model.safetensors"), state);
        foreach (Tensor t in extras.Values) t.Dispose();
    }

    public string Folder { get; }
    internal EncoderConfig Config { get; }

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}
