namespace Optimizer.Formulation;

/// <summary>
/// Writes a whole file or nothing: a temporary file in the same folder, renamed into place, so no half-written
/// output is ever left. Inside an <see cref="OutputBatch"/> the rename waits for the batch's commit, so a command
/// writes all its outputs or none.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes through a text writer, then renames the result into place (at once, or when the open batch commits).</summary>
    public static void Write(string path, Action<TextWriter> write) => WriteStream(path, stream =>
    {
        using var writer = new StreamWriter(stream);
        write(writer);
    });

    /// <summary>Writes whole bytes (a picture, an ONNX model), then renames the result into place like <see cref="Write"/>.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => WriteStream(path, stream => stream.Write(bytes));

    private static void WriteStream(string path, Action<Stream> write)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new IOException("Cannot write an output with an empty file name.");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"Cannot write {path}: it is a folder, not a file.");
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new IOException($"Cannot write {path}: folder {dir} does not exist.");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        bool staged = false;
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write)) write(stream);
            if (OutputBatch.Current is { } batch) { batch.Stage(tmp, full, path); staged = true; }
            else File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The temporary file is ours, not the user's: name the file they asked for.
            throw new IOException($"Cannot write {path}: {e.Message.Replace(tmp, path)}", e);
        }
        finally
        {
            if (!staged && File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes a whole string.</summary>
    public static void WriteAllText(string path, string text) => Write(path, w => w.Write(text));
}

/// <summary>
/// The outputs of one command: every <see cref="AtomicFile"/> write inside the batch is kept as a temporary file
/// until <see cref="Commit"/> renames them all into place; disposing an uncommitted batch deletes them, so a command
/// that fails half way leaves no output behind (and no earlier output of the same command).
/// </summary>
public sealed class OutputBatch : IDisposable
{
    private static readonly AsyncLocal<OutputBatch?> Open = new();
    private readonly OutputBatch? _outer;
    private readonly List<(string Tmp, string Full, string Shown)> _staged = [];

    private OutputBatch() { _outer = Open.Value; Open.Value = this; }

    /// <summary>The batch open on this flow of control, if any.</summary>
    public static OutputBatch? Current => Open.Value;

    /// <summary>Opens a batch; writes wait for <see cref="Commit"/>.</summary>
    public static OutputBatch Begin() => new();

    /// <summary>The files the batch holds, as the user named them.</summary>
    public IReadOnlyList<string> Pending => _staged.Select(s => s.Shown).ToList();

    internal void Stage(string tmp, string full, string shown)
    {
        lock (_staged)
        {
            int same = _staged.FindIndex(s => s.Full == full);
            if (same >= 0) { File.Delete(_staged[same].Tmp); _staged.RemoveAt(same); }
            _staged.Add((tmp, full, shown));
        }
    }

    /// <summary>Renames every staged file into place.</summary>
    public void Commit()
    {
        lock (_staged)
        {
            foreach (var (tmp, full, _) in _staged) File.Move(tmp, full, overwrite: true);
            _staged.Clear();
        }
    }

    /// <summary>Deletes what was not committed and closes the batch.</summary>
    public void Dispose()
    {
        lock (_staged)
        {
            foreach (var (tmp, _, _) in _staged)
                if (File.Exists(tmp)) File.Delete(tmp);
            _staged.Clear();
        }
        if (Open.Value == this) Open.Value = _outer;
    }
}
