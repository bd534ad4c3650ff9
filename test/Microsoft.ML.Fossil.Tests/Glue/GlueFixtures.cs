using System.Text;

namespace Microsoft.ML.Fossil.Tests.Glue;

/// <summary>
/// Tiny folders in the official Glue layout (as the GLUE download script writes them), a few rows
/// each, written by the tests: there is no Glue data offline. Column orders, headers (or their
/// absence), byte-order marks and stray quotes follow the real files.
/// </summary>
internal sealed class GlueFixtures : IDisposable
{
    public GlueFixtures() => Root = Directory.CreateTempSubdirectory("fossil-glue-fixtures-").FullName;

    public string Root { get; }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }

    /// <summary>Writes <paramref name="lines"/> (joined with \n, ending with \n) to task/file.</summary>
    public string Write(string task, string file, IEnumerable<string> lines, bool byteOrderMark = false)
    {
        string folder = Path.Combine(Root, task);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, file);
        File.WriteAllText(path, string.Concat(lines.Select(l => l + "\n")), new UTF8Encoding(byteOrderMark));
        return path;
    }

    public string Folder(string task) => Path.Combine(Root, task);

    static readonly string[] Positive =
    [
        "a gorgeous , witty , seductive movie . ", "the acting is superb and the story moving . ", "one of the best films of the year . ",
        "a delightful , warm-hearted comedy . ", "beautifully shot and wonderfully acted . ", "an absolute joy from start to finish . ",
    ];
    static readonly string[] Negative =
    [
        "the plot is a tedious mess . ", "dull , lifeless and far too long . ", "a waste of a talented cast . ",
        "the jokes fall flat every time . ", "clumsy , boring and predictable . ", "i wanted my two hours back . ",
    ];

    /// <summary>SST-2: sentence, label (header); test.tsv: index, sentence.</summary>
    public string Sst2()
    {
        string[] rows = [.. Positive.Zip(Negative).SelectMany(p => new[] { $"{p.First}\t1", $"{p.Second}\t0" })];
        Write("sst2", "train.tsv", ["sentence\tlabel", .. rows]);
        Write("sst2", "dev.tsv", ["sentence\tlabel", .. rows.Take(6)]);
        Write("sst2", "test.tsv", ["index\tsentence", .. Positive.Concat(Negative).Take(5).Select((s, i) => $"{i}\t{s}")]);
        return Folder("sst2");
    }

    /// <summary>CoLA: train/dev without a header (source, label, original label, sentence); test.tsv: index, sentence.</summary>
    public string Cola()
    {
        string[] rows =
        [
            "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.",
            "gj04\t1\t\tOne more pseudo generalization and I'm giving up.",
            "gj04\t0\t*\tThey drank the pub.",
            "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.",
            "gj04\t0\t*\tThe more we study verbs, the crazier they get get.",
            "gj04\t1\t\tDay by day the facts are getting murkier.",
            "cj99\t0\t*\tJohn put the vase.",
            "cj99\t0\t*\tHarry coughed himself.",
        ];
        Write("cola", "train.tsv", rows);
        Write("cola", "dev.tsv", rows[2..7]);
        Write("cola", "test.tsv", ["index\tsentence", "0\tBill whistled past the house.", "1\tThe car honked down the road.", "2\tThe the dog barked."]);
        return Folder("cola");
    }

    /// <summary>MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String, with a byte-order mark and stray quotes; test.tsv has index for Quality.</summary>
    public string Mrpc()
    {
        const string header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String";
        string[] rows =
        [
            "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .\tReferring to him as only \" the witness \" , Amrozi accused his brother of deliberately distorting his evidence .",
            "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain to Safeway in 1998 for $ 2.5 billion .\tYucaipa bought Dominick 's in 1995 for $ 693 million and sold it to Safeway for $ 1.8 billion in 1998 .",
            "1\t1330381\t1330521\tThey had published an advertisement on the Internet on June 10 , offering the cargo for sale , he added .\tOn June 10 , the ship 's owners had published an advertisement on the Internet , offering the explosives for sale .",
            "0\t3344667\t3344648\tAround 0335 GMT , Tab shares were up 19 cents , or 4.4 % , at A $ 4.56 , having earlier set a record high of A $ 4.57 .\tTab shares jumped 20 cents , or 4.6 % , to set a record closing high at A $ 4.57 .",
            "1\t1236820\t1236712\tThe stock rose $ 2.11 , or about 11 percent , to close Friday at $ 21.51 on the New York Stock Exchange .\tPG & E Corp. shares jumped $ 1.63 or 8 percent to $ 21.03 on the New York Stock Exchange on Friday .",
            "0\t738533\t737951\tRevenue in the first quarter of the year dropped 15 percent from the same period a year earlier .\tWith the scandal hanging over Stewart 's company , revenue the first quarter of the year dropped 15 percent from the same period a year earlier .",
        ];
        Write("mrpc", "train.tsv", [header, .. rows], byteOrderMark: true);
        Write("mrpc", "dev.tsv", [header, .. rows[..4]], byteOrderMark: true);
        Write("mrpc", "test.tsv", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String", .. rows[..3].Select((r, i) => $"{i}{r[1..]}")], byteOrderMark: true);
        return Folder("mrpc");
    }

    /// <summary>QQP: id, qid1, qid2, question1, question2, is_duplicate; an unbalanced quote inside a field.</summary>
    public string Qqp()
    {
        const string header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate";
        string[] rows =
        [
            "133273\t213221\t213222\tHow is the life of a math student? Could you describe your own experiences?\tWhich level of prepration is enough for the exam jlpt5?\t0",
            "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1",
            "360472\t364011\t490273\tWhat causes stool color to change to yellow?\tWhat can cause stool to come out as little balls?\t0",
            "150662\t155721\t7256\tWhat can one do after MBBS?\tWhat do i do after my MBBS ?\t1",
            "183004\t279958\t279959\tWhere can I find a \"power outlet for my laptop at Melbourne Airport?\tWould a second airport in Sydney, Australia be needed if a high-speed rail link was created between Melbourne and Sydney?\t0",
            "119056\t193387\t193388\tHow not to feel guilty since I am Muslim and I'm conscious we won't have sex together?\tI don't beleive I am bulimic, but I force throw up atleast once a day after I eat something and feel guilty. Should I tell somebody, and if so who?\t0",
        ];
        Write("qqp", "train.tsv", [header, .. rows]);
        Write("qqp", "dev.tsv", [header, .. rows[2..]]);
        Write("qqp", "test.tsv", ["id\tquestion1\tquestion2", "0\tWhy am I mentally very lonely? How can I solve it?\tFind the remainder when [math]23^{24}[/math] is divided by 24,23?"]);
        return Folder("qqp");
    }

    /// <summary>STS-B: 10 columns (index, genre, filename, year, old_index, source1, source2, sentence1, sentence2, score); test.tsv has 9.</summary>
    public string Stsb()
    {
        const string header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2";
        (string, string, string)[] pairs =
        [
            ("A plane is taking off.", "An air plane is taking off.", "5.000"),
            ("A man is playing a large flute.", "A man is playing a flute.", "3.800"),
            ("A man is spreading shreded cheese on a pizza.", "A man is spreading shredded cheese on an uncooked pizza.", "3.800"),
            ("Three men are playing chess.", "Two men are playing chess.", "2.600"),
            ("A man is playing the cello.", "A man seated is playing the cello.", "4.250"),
            ("Some men are fighting.", "Two men are fighting.", "4.250"),
            ("A man is smoking.", "A man is skating.", "0.500"),
            ("The man is playing the piano.", "The man is playing the guitar.", "1.600"),
        ];
        string Row((string A, string B, string Score) p, int i, bool labelled) =>
            $"{i}\tmain-captions\tMSRvid\t2012test\t{i + 1:0000}\tnone\tnone\t{p.A}\t{p.B}" + (labelled ? $"\t{p.Score}" : "");
        Write("stsb", "train.tsv", [header + "\tscore", .. pairs.Select((p, i) => Row(p, i, true))]);
        Write("stsb", "dev.tsv", [header + "\tscore", .. pairs[..5].Select((p, i) => Row(p, i, true))]);
        Write("stsb", "test.tsv", [header, .. pairs[..3].Select((p, i) => Row(p, i, false))]);
        return Folder("stsb");
    }

    /// <summary>
    /// MNLI: train 12 columns (..., sentence1 at 8, sentence2 at 9, label1, gold_label last), dev_matched and
    /// dev_mismatched 16 (label1..label5, gold_label), test_matched 10.
    /// </summary>
    public string Mnli()
    {
        const string first = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2";
        (string, string, string)[] pairs =
        [
            ("Conceptually cream skimming has two basic dimensions - product and geography.", "Product and geography are what make cream skimming work. ", "neutral"),
            ("you know during the season and i guess at at your level uh you lose them", "You lose the things to the following level if the people recall.", "entailment"),
            ("One of our number will carry out your instructions minutely.", "A member of my team will execute your orders with immense precision.", "entailment"),
            ("How do you know? All this is their information again.", "This information belongs to them.", "entailment"),
            ("yeah i tell you what though if you go price some of those tennis shoes", "The tennis shoes have a range of prices.", "neutral"),
            ("my walkman broke so i'm upset now i just have to turn the stereo up real loud", "I'm upset that my walkman broke and now I have to turn the stereo up really loud.", "entailment"),
            ("But a few Christian mosaics survive above the apse is the Virgin with the infant Jesus", "Most of the Christian mosaics were destroyed by Muslims.  ", "neutral"),
            ("The Old One always comforted Ca'daan, except today.", "Ca'daan knew the Old One very well.", "contradiction"),
            ("Gays and lesbians.", "Heterosexuals.", "contradiction"),
        ];
        string Row((string A, string B, string Gold) p, int i, int labels) =>
            $"{i}\t{31193 + i}\t{31193 + i}n\tgovernment\t( ( A ) )\t( ( B ) )\t(ROOT (S A))\t(ROOT (S B))\t{p.A}\t{p.B}" +
            (labels == 0 ? "" : string.Concat(Enumerable.Repeat($"\t{p.Gold}", labels)) + $"\t{p.Gold}");
        Write("mnli", "train.tsv", [first + "\tlabel1\tgold_label", .. pairs.Select((p, i) => Row(p, i, 1))]);
        string devHeader = first + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label";
        Write("mnli", "dev_matched.tsv", [devHeader, .. pairs[..5].Select((p, i) => Row(p, i, 5))]);
        Write("mnli", "dev_mismatched.tsv", [devHeader, .. pairs[4..].Select((p, i) => Row(p, i, 5))]);
        Write("mnli", "test_matched.tsv", [first, .. pairs[..3].Select((p, i) => Row(p, i, 0))]);
        return Folder("mnli");
    }

    /// <summary>QNLI (index, question, sentence, label) or RTE / WNLI (index, sentence1, sentence2, label).</summary>
    public string IndexedPairs(string task)
    {
        string header = task == "qnli" ? "index\tquestion\tsentence\tlabel" : "index\tsentence1\tsentence2\tlabel";
        string[] labels = task == "wnli" ? ["1", "0"] : ["entailment", "not_entailment"];
        string[] rows =
        [
            $"0\tWhen did the third Digimon series begin?\tUnlike the two seasons before it, Digimon Tamers takes a darker approach.\t{labels[1]}",
            $"1\tWhich missile batteries often have individual launchers several kilometres from one another?\tWhen MANPADS is operated by specialists, batteries may have several dozen teams deploying separately.\t{labels[1]}",
            $"2\tWhat two things does Popper argue Tarski's theory involves?\tHe bases this interpretation on the fact that Popper's theory involves two things.\t{labels[0]}",
            $"3\tWhat is the name of the village 9 miles north of Calafat?\tThe village of Ciuperceni lies about 9 miles north of Calafat.\t{labels[0]}",
        ];
        Write(task, "train.tsv", [header, .. rows]);
        Write(task, "dev.tsv", [header, .. rows[1..]]);
        return Folder(task);
    }
}
