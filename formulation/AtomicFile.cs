namespace Optimizer.Formulation;

/// <summary>Writes a whole file or nothing: a temporary file in the same folder, renamed into place, so no half-written output is ever left.</summary>
public static class AtomicFile
{
    /// <summary>Writes through a text writer, then renames the result into place.</summary>
    public static void Write(string path, Action<TextWriter> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new IOException($"Cannot write {path}: folder {dir} does not exist.");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var writer = new StreamWriter(tmp)) write(writer);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes whole bytes (a binary file such as an ONNX model).</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, w => { w.Flush(); ((StreamWriter)w).BaseStream.Write(bytes); });

    /// <summary>Writes a whole string.</summary>
    public static void WriteAllText(string path, string text) => Write(path, w => w.Write(text));
}
