using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// The parts of a SentencePiece model (the <c>ModelProto</c> protobuf of <c>sentencepiece.bpe.model</c>) that
/// a Unigram tokenizer needs: the pieces with their scores and types, the model type, the special ids and the
/// normalizer. Read and written here (a few protobuf fields) because Microsoft.ML.Tokenizers keeps its generated
/// <c>ModelProto</c> classes internal.
/// </summary>
internal sealed class SentencePieceModel
{
    /// <summary>SentencePiece's piece types (<c>ModelProto.SentencePiece.Type</c>).</summary>
    public enum PieceType
    {
        /// <summary>An ordinary piece.</summary>
        Normal = 1,
        /// <summary>The unknown piece.</summary>
        Unknown = 2,
        /// <summary>A control symbol (never produced from text).</summary>
        Control = 3,
        /// <summary>A piece always matched as a whole.</summary>
        UserDefined = 4,
        /// <summary>A piece reserved and never used.</summary>
        Unused = 5,
        /// <summary>A byte-fallback piece (<c>&lt;0x41&gt;</c>).</summary>
        Byte = 6,
    }

    /// <summary>One vocabulary entry.</summary>
    public readonly record struct Piece(string Text, float Score, PieceType Type);

    /// <summary>The pieces in id order.</summary>
    public required IReadOnlyList<Piece> Pieces { get; init; }

    /// <summary>TrainerSpec.model_type: 1 Unigram, 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; init; } = 1;

    /// <summary>TrainerSpec.unk_id.</summary>
    public int UnkId { get; init; }

    /// <summary>TrainerSpec.byte_fallback.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>TrainerSpec.treat_whitespace_as_suffix.</summary>
    public bool TreatWhitespaceAsSuffix { get; init; }

    /// <summary>NormalizerSpec.name (e.g. nmt_nfkc).</summary>
    public string NormalizerName { get; init; } = "";

    /// <summary>NormalizerSpec.precompiled_charsmap: the compiled normalization rules.</summary>
    public byte[] PrecompiledCharsmap { get; init; } = [];

    /// <summary>NormalizerSpec.add_dummy_prefix: a "▁" before the text.</summary>
    public bool AddDummyPrefix { get; init; } = true;

    /// <summary>NormalizerSpec.remove_extra_whitespaces: strip and collapse whitespace.</summary>
    public bool RemoveExtraWhitespaces { get; init; } = true;

    /// <summary>NormalizerSpec.escape_whitespaces: spaces become "▁".</summary>
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>Reads a serialized <c>ModelProto</c>.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a SentencePiece model; the message names <paramref name="sourceForErrors"/>.</exception>
    public static SentencePieceModel Read(ReadOnlySpan<byte> bytes, string sourceForErrors)
    {
        try
        {
            var pieces = new List<Piece>();
            int modelType = 1, unkId = 0;
            bool byteFallback = false, suffix = false;
            string name = "";
            byte[] charsmap = [];
            bool dummy = true, removeExtra = true, escape = true;
            var reader = new ProtoReader(bytes);
            while (reader.Next(out int field, out int wire))
            {
                if (field == 1 && wire == 2) pieces.Add(ReadPiece(reader.Bytes()));
                else if (field == 2 && wire == 2)
                {
                    var trainer = new ProtoReader(reader.Bytes());
                    while (trainer.Next(out int f, out int w))
                    {
                        if (w != 0) { trainer.Skip(w); continue; }
                        long value = (long)trainer.Varint();
                        switch (f)
                        {
                            case 3: modelType = (int)value; break;
                            case 40: unkId = (int)value; break;
                            case 35: byteFallback = value != 0; break;
                            case 24: suffix = value != 0; break;
                        }
                    }
                }
                else if (field == 3 && wire == 2)
                {
                    var normalizer = new ProtoReader(reader.Bytes());
                    while (normalizer.Next(out int f, out int w))
                    {
                        if (f == 1 && w == 2) name = Encoding.UTF8.GetString(normalizer.Bytes());
                        else if (f == 2 && w == 2) charsmap = normalizer.Bytes().ToArray();
                        else if (f is 3 or 4 or 5 && w == 0)
                        {
                            bool flag = normalizer.Varint() != 0;
                            if (f == 3) dummy = flag;
                            else if (f == 4) removeExtra = flag;
                            else escape = flag;
                        }
                        else normalizer.Skip(w);
                    }
                }
                else reader.Skip(wire);
            }
            if (pieces.Count == 0) throw new InvalidDataException("it has no pieces");
            return new SentencePieceModel
            {
                Pieces = pieces, ModelType = modelType, UnkId = unkId, ByteFallback = byteFallback, TreatWhitespaceAsSuffix = suffix,
                NormalizerName = name, PrecompiledCharsmap = charsmap, AddDummyPrefix = dummy, RemoveExtraWhitespaces = removeExtra,
                EscapeWhitespaces = escape,
            };
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentOutOfRangeException or IndexOutOfRangeException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{sourceForErrors} is not a SentencePiece model: {e.Message}", e);
        }
    }

    static Piece ReadPiece(ReadOnlySpan<byte> bytes)
    {
        string text = "";
        float score = 0;
        var type = PieceType.Normal;
        var reader = new ProtoReader(bytes);
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2) text = Encoding.UTF8.GetString(reader.Bytes());
            else if (field == 2 && wire == 5) score = reader.Float();
            else if (field == 3 && wire == 0) type = (PieceType)(int)reader.Varint();
            else reader.Skip(wire);
        }
        return new Piece(text, score, type);
    }

    /// <summary>Writes the model as a <c>ModelProto</c> with these pieces, special ids and normalizer.</summary>
    public byte[] Write(int bosId, int eosId, int padId)
    {
        var model = new ProtoWriter();
        foreach (Piece piece in Pieces)
        {
            var entry = new ProtoWriter();
            entry.String(1, piece.Text);
            entry.Float(2, piece.Score);
            entry.Varint(3, (ulong)piece.Type);
            model.Message(1, entry);
        }
        var trainer = new ProtoWriter();
        trainer.Varint(3, (ulong)ModelType);
        trainer.Varint(24, TreatWhitespaceAsSuffix ? 1UL : 0UL);
        trainer.Varint(35, ByteFallback ? 1UL : 0UL);
        trainer.Varint(40, (ulong)(long)UnkId);
        trainer.Varint(41, (ulong)(long)bosId);
        trainer.Varint(42, (ulong)(long)eosId);
        trainer.Varint(43, (ulong)(long)padId);
        trainer.String(45, Pieces[UnkId].Text);
        if (bosId >= 0) trainer.String(46, Pieces[bosId].Text);
        if (eosId >= 0) trainer.String(47, Pieces[eosId].Text);
        if (padId >= 0) trainer.String(48, Pieces[padId].Text);
        model.Message(2, trainer);
        var normalizer = new ProtoWriter();
        normalizer.String(1, NormalizerName);
        normalizer.Bytes(2, PrecompiledCharsmap);
        normalizer.Varint(3, AddDummyPrefix ? 1UL : 0UL);
        normalizer.Varint(4, RemoveExtraWhitespaces ? 1UL : 0UL);
        normalizer.Varint(5, EscapeWhitespaces ? 1UL : 0UL);
        model.Message(3, normalizer);
        return model.ToArray();
    }

    /// <summary>A cursor over protobuf fields.</summary>
    ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> data = data;
        int position;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (position >= data.Length) return false;
            ulong tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            if (field == 0) throw new InvalidDataException($"field number 0 at byte {position}");
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (position >= data.Length) throw new InvalidDataException("it ends inside a number");
                byte b = data[position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw new InvalidDataException("a number is longer than 10 bytes");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(data.Length - position)) throw new InvalidDataException($"a field of {length} bytes runs past the end");
            ReadOnlySpan<byte> result = data.Slice(position, (int)length);
            position += (int)length;
            return result;
        }

        public float Float()
        {
            if (data.Length - position < 4) throw new InvalidDataException("it ends inside a number");
            float value = BinaryPrimitives.ReadSingleLittleEndian(data[position..]);
            position += 4;
            return value;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(); break;
                case 5: Advance(4); break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wire}");
            }
        }

        void Advance(int count)
        {
            if (data.Length - position < count) throw new InvalidDataException("it ends inside a field");
            position += count;
        }
    }

    /// <summary>Builds protobuf bytes field by field.</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream buffer = new();

        void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));

        void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                buffer.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            buffer.WriteByte((byte)value);
        }

        public void Varint(int field, ulong value)
        {
            Tag(field, 0);
            Raw(value);
        }

        public void Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            buffer.Write(bytes);
        }

        public void Bytes(int field, ReadOnlySpan<byte> value)
        {
            Tag(field, 2);
            Raw((ulong)value.Length);
            buffer.Write(value);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => buffer.ToArray();
    }
}
