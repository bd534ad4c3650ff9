using System.Globalization;
using Microsoft.ML;

namespace Microsoft.ML.Fossil.FreshProcess;

/// <summary>
/// Commands for the reliability tests. Unlike <c>transform</c>, these use the library's API
/// (SaveAtomically, the transformer's EmbedBackbone), each in its own method so
/// that <c>transform</c> still runs without the library loaded before <c>Model.Load</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>save-repeatedly &lt;model.zip&gt; &lt;target.zip&gt; &lt;count&gt; [--embed-backbone]</c>: loads the
/// model and saves it <c>count</c> times to the target with <c>SaveAtomically</c>, printing
/// <c>saved N</c> after each; with <c>--embed-backbone</c> each file carries the backbone (tens of MB),
/// so a save takes long enough for a test to kill the process in the middle of one.</item>
/// </list>
/// </remarks>
internal static class ReliabilityCommands
{
    public const string Usage =
        "       Microsoft.ML.Fossil.FreshProcess save-repeatedly <model.zip> <target.zip> <count> [--embed-backbone]";

    public static int Run(string[] args)
    {
        Action command;
        try
        {
            command = Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"usage: {e.Message}\n{Usage}");
            return 2;
        }
        try
        {
            command();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.ToString());
            return 1;
        }
    }

    sealed class UsageException(string message) : Exception(message);

    static Action Parse(string[] args)
    {
        switch (args[0])
        {
            case "save-repeatedly" when args.Length >= 4:
                var flags = args[4..];
                if (flags.Any(f => f != "--embed-backbone")) throw new UsageException($"unknown option in '{string.Join(' ', flags)}'");
                int count = PositiveInt(args[3], "count");
                return () => SaveRepeatedly(args[1], args[2], count, embedBackbone: flags.Length > 0);
            default:
                throw new UsageException($"unknown command or wrong arguments: {string.Join(' ', args)}");
        }
    }

    static int PositiveInt(string text, string what) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value : throw new UsageException($"{what} must be a positive integer, got '{text}'");

    static void SaveRepeatedly(string modelPath, string target, int count, bool embedBackbone)
    {
        var ml = new MLContext(seed: 1);
        ITransformer model = ml.Model.Load(modelPath, out DataViewSchema inputSchema);
        foreach (FossilTextClassificationTransformer fossil in FossilTransformers(model)) fossil.EmbedBackbone = embedBackbone;
        for (int i = 1; i <= count; i++)
        {
            ml.Model.SaveAtomically(model, inputSchema, target);
            Console.WriteLine($"saved {i}");
            Console.Out.Flush();
        }
        (model as IDisposable)?.Dispose();
    }

    static IEnumerable<FossilTextClassificationTransformer> FossilTransformers(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.OfType<FossilTextClassificationTransformer>()
        : model is FossilTextClassificationTransformer single ? [single] : [];
}
