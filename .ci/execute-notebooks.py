#!/usr/bin/python3
"""Executes the sample notebooks through the .NET Jupyter kernel (nbconvert's ExecutePreprocessor, the engine of
`jupyter nbconvert --execute`) and reports the first failing cell of each notebook by number.

Usage: execute-notebooks.py [--output DIR] [--update] [--glue-check] NOTEBOOK.ipynb...

  --output DIR   write each executed notebook to DIR (the committed notebooks are left alone)
  --update       write the outputs back into the notebooks themselves, without machine paths, so that they read
                 well on GitHub (a developer's step: CI never requires the committed outputs to match)
  --glue-check   after a notebook has run, load its data again from the same rows written in Glue's file layout
                 (GLUE_DIR) and require the very same rows: the notebook's Glue branch reads the right columns

The kernel is the one named in the notebook (.net-csharp); JUPYTER_PATH says where its kernelspec is (.ci/run-notebooks
writes one). FOSSIL_SAMPLE_ROWS, FOSSIL_EPOCHS and FOSSIL_NUGET_FEED reach the notebooks through the environment.
It first checks itself on a notebook whose second cell throws (a few seconds). Exit code 0 when every cell of
every notebook ran, 1 otherwise.
"""
import argparse
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import ExecutePreprocessor

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "samples" / "data"
CELL_TIMEOUT_S = 900
GLUE_TAG = "glue-data"

# Appended for --glue-check (and removed from the notebook afterwards): a digest of every value of every row of the
# notebook's data views, so that two loads can be compared exactly.
DIGEST_CELL = r"""
string FossilCiDigest(IDataView data)
{
    var text = new System.Text.StringBuilder();
    int rows = 0;
    foreach (var row in data.Preview(int.MaxValue).RowView)
    {
        // By column name: the Glue branch may declare the columns in another order.
        text.AppendJoin('\t', row.Values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key}={v.Value}")).Append('\n');
        rows++;
    }
    return $"{rows} rows {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())))}";
}
Console.WriteLine($"fossil-ci-digest train {FossilCiDigest(train)}; validation {FossilCiDigest(validation)}; test {FossilCiDigest(test)}");
"""


class NumberingExecutor(ExecutePreprocessor):
    """Remembers the index of the cell being executed, to name the one that fails."""

    current_index = -1

    def preprocess_cell(self, cell, resources, index):
        self.current_index = index
        return super().preprocess_cell(cell, resources, index)


def write_glue_layout(root: Path) -> None:
    """The bundled data in Glue's layout: SST-2, MRPC (header with a byte-order mark, as Microsoft's file has), STS-B."""
    for glue_name, bundled in (("train", "train"), ("dev", "test")):
        (root / "SST-2").mkdir(parents=True, exist_ok=True)
        (root / "SST-2" / f"{glue_name}.tsv").write_bytes((DATA / f"fine_foods_{bundled}.tsv").read_bytes())
        # sentence1, sentence2, same_label, positivity
        pairs = [line.split("\t") for line in (DATA / f"fine_foods_pairs_{bundled}.tsv").read_text("utf-8").splitlines()[1:]]
        mrpc = ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        mrpc += [f"{p[2]}\t{2 * i + 2}\t{2 * i + 3}\t{p[0]}\t{p[1]}" for i, p in enumerate(pairs)]
        stsb = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
        stsb += [f"{i}\tmain-reviews\tfine-foods\t2025\t{i}\tnone\tnone\t{p[0]}\t{p[1]}\t{p[3]}" for i, p in enumerate(pairs)]
        for task, lines in (("MRPC", mrpc), ("STS-B", stsb)):
            (root / task).mkdir(parents=True, exist_ok=True)
            (root / task / f"{glue_name}.tsv").write_text("\n".join(lines) + "\n", "utf-8")


def code_cell(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source.strip("\n"), metadata={"fossil_ci": True})


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}\n")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def sanitize(nb) -> None:
    """Outputs fit to commit: no kernel bootstrap script, no machine paths."""
    home = str(Path.home())
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html, plain = data.get("text/html", ""), data.get("text/plain", "")
            # The kernel's JavaScript bootstrap (addresses of this machine) and its extension-loading notes (paths).
            if "dotnet-interactive-this-cell" in html or plain.startswith("Loading extensions from"):
                continue
            kept.append(output)
        cell.outputs = kept
        for output in cell.outputs:
            for key in ("text",):
                if key in output:
                    output[key] = output[key].replace(str(REPO) + "/", "").replace(home, "~")
            for mime, value in list(output.get("data", {}).items()):
                if isinstance(value, str) and not mime.startswith("image/"):
                    output["data"][mime] = value.replace(str(REPO) + "/", "").replace(home, "~")


def run(path: Path, args, glue_root: Path | None, echo: bool = True) -> tuple[bool, str]:
    nb = nbformat.read(path, as_version=4)
    appended = 0
    if glue_root is not None:
        glue_cells = [c for c in nb.cells if GLUE_TAG in c.get("metadata", {}).get("tags", [])]
        if not glue_cells:
            return False, f"{path.name}: no cell is tagged '{GLUE_TAG}' for the Glue check"
        extra = [code_cell(DIGEST_CELL), code_cell(f'Environment.SetEnvironmentVariable("GLUE_DIR", @"{glue_root}");')]
        extra += [code_cell(c.source) for c in glue_cells] + [code_cell(DIGEST_CELL)]
        nb.cells.extend(extra)
        appended = len(extra)

    executor = NumberingExecutor(timeout=CELL_TIMEOUT_S, kernel_name=nb.metadata.get("kernelspec", {}).get("name", ".net-csharp"),
                                 record_timing=False)
    ok, message = True, ""
    try:
        executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    except CellExecutionError as error:
        ok = False
        index = executor.current_index
        where = (f"cell {index + 1} of {len(nb.cells) - appended}" if index < len(nb.cells) - appended
                 else f"the Glue check's cell {index - (len(nb.cells) - appended) + 1}")
        first_line = nb.cells[index].source.strip().splitlines()[0] if nb.cells[index].source.strip() else ""
        message = f"{path.name}: {where} failed ({first_line!r}): {error.ename}: {error.evalue}"
        if echo:
            print(text_of(nb.cells[index]), file=sys.stderr)

    if ok and appended:
        digests = [line for c in nb.cells[-appended:] for line in text_of(c).splitlines() if line.startswith("fossil-ci-digest")]
        rerun = "".join(text_of(c) for c in nb.cells[-appended:])
        if len(digests) != 2 or "Data: Glue" not in rerun or " 0 rows " in digests[0] or digests[0] != digests[1]:
            ok = False
            message = f"{path.name}: Glue's layout does not give the bundled data's rows:\n  bundled: {digests[:1]}\n  Glue:    {digests[1:]}\n{rerun}"
        else:
            print(f"{path.name}: Glue's layout gives the bundled data's rows ({digests[0].split(';')[0].removeprefix('fossil-ci-digest ')}, ...)")
    if appended:
        del nb.cells[-appended:]

    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, Path(args.output) / path.name)
    if args.update and ok:
        sanitize(nb)
        nbformat.write(nb, path)
    return ok, message


def self_test() -> bool:
    """This script on a notebook whose second cell throws: it must fail there, and the third cell must not run."""
    with tempfile.TemporaryDirectory(prefix="fossil-self-test-") as folder:
        path = Path(folder) / "failing.ipynb"
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": ".net-csharp", "display_name": ".NET (C#)", "language": "C#"}})
        nb.cells = [nbformat.v4.new_code_cell(source) for source in (
            'Console.WriteLine("cell 1 runs");',
            'throw new InvalidOperationException("cell 2 fails");',
            'Console.WriteLine("cell 3 must not run");')]
        nbformat.write(nb, path)
        args = argparse.Namespace(output=folder, update=False)
        ok, message = run(path, args, None, echo=False)
        ran = nbformat.read(Path(folder) / path.name, as_version=4)
        passed = (not ok and message.startswith("failing.ipynb: cell 2 of 3 failed") and "cell 2 fails" in message
                  and "cell 1 runs" in text_of(ran.cells[0]) and not ran.cells[2].get("outputs"))
        print(f"execute-notebooks: self-test {'passed' if passed else 'FAILED'}: {message.splitlines()[0] if message else 'no failure reported'}")
        return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--output")
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--glue-check", action="store_true")
    args = parser.parse_args()
    if not self_test():
        return 1

    failures, summary = [], []
    with tempfile.TemporaryDirectory(prefix="fossil-glue-") as glue:
        glue_root = Path(glue) if args.glue_check else None
        if glue_root is not None:
            write_glue_layout(glue_root)
        for path in args.notebooks:
            print(f"-- {path.name}", flush=True)
            start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
            ok, message = run(path.resolve(), args, glue_root)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            summary.append(f"{path.name:<12} {time.monotonic() - start:6.0f} s (kernel CPU {cpu:5.0f} s)  {'ok' if ok else 'FAILED'}")
            if not ok:
                print(message, file=sys.stderr)
                failures.append(message.splitlines()[0])
    print(f"== Notebooks ({os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print("\n".join(summary))
    for failure in failures:
        print(f"execute-notebooks: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
