#!/usr/bin/env python3
"""What the GPU will execute, read on a machine without a GPU: compile CUDA sources for sm_90, disassemble
the kernels' SASS and print, per kernel, its registers, spills, code size and instruction mix.

    python3 tools/sass_report.py kernels/cuda/mlp_fused_tc.cu [more.cu ...] [--kernel REGEX] [--dump DIR]
    python3 tools/sass_report.py kernels/cuda/egnn_message_tc.cu --kernel 'backward<128>' --lines 15
        (also: which source lines the code comes from, the 15 largest)
    ORBIT_EMIT_CUDA_KERNELS=/tmp/gen build/bench/orbit_bench --device cpu --workload pinn --size cpu --repeat 1
    python3 tools/sass_report.py --generated /tmp/gen
        (the kernels CUDA programs would generate at run time, compiled as NVRTC would: one line each)
    python3 tools/sass_report.py --check-budgets tools/kernel_budgets.txt
        (code size of the kernels named there against their budgets, from the cubin's ELF sections:
        needs nvcc only; the test kernel_code_budgets runs it where the build has CUDA)

Why: no profiler runs on the project's VM and GPU time is minutes per session, so a kernel's static shape
(how many instructions per tensor-core op, whether its code fits the instruction cache, whether it
spills) is what can be checked between GPU sessions. Code size matters: an SM's instruction caches hold
tens of KiB, and a kernel whose hot loop walks hundreds of KiB of straight-line code stalls on
instruction fetch with no counter on the VM to say so.

Needs CUDA's nvcc (on the VM) and a disassembler: `nvdisasm` on PATH or $ORBIT_NVDISASM. CUDA 13's own is
not installed here; Debian's non-free nvidia-cuda-toolkit (11.8) carries one that reads sm_90 code once the
cubin's ELF header is written in the older ABI's form (this script does that on a copy; the instructions
are untouched). To fetch it without installing the toolkit:

    echo 'Types: deb
    URIs: http://deb.debian.org/debian
    Suites: bookworm
    Components: contrib non-free
    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > /etc/apt/sources.list.d/nonfree.sources
    apt-get update && cd /tmp && apt-get download nvidia-cuda-toolkit && dpkg -x nvidia-cuda-toolkit_*.deb /opt/cuda118
    # /opt/cuda118/usr/bin/nvdisasm is found there; elsewhere: export ORBIT_NVDISASM=/path/to/nvdisasm
"""
import argparse
import collections
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_nvdisasm():
    for cand in (os.environ.get("ORBIT_NVDISASM"), shutil.which("nvdisasm"), "/opt/cuda118/usr/bin/nvdisasm"):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    sys.exit("sass_report: no nvdisasm found (set ORBIT_NVDISASM; how to get one: the top of tools/sass_report.py)")


def compile_cubin(src, out, arch, extra, lineinfo=False):
    nvcc = os.environ.get("ORBIT_NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.access(nvcc, os.X_OK):
        sys.exit(f"sass_report: no nvcc (looked at $ORBIT_NVCC, PATH and {nvcc})")
    cmd = [nvcc, "-O3", "-DNDEBUG", f"-arch={arch}", "-std=c++20", "--expt-relaxed-constexpr", "-DORBIT_WITH_CUDA=1",
           f"-I{ROOT}", f"-I{os.path.join(ROOT, 'build', 'include')}", "-Xptxas", "-v", "-cubin", src, "-o", out] + extra + (["-lineinfo"] if lineinfo else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sass_report: nvcc failed on {src}:\n{r.stderr[-4000:]}")
    return r.stderr


def ptxas_resources(log):
    """kernel mangled name -> (registers, spill stores bytes, spill loads bytes, stack bytes)."""
    res, cur = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            cur = m.group(1)
            res[cur] = {"regs": 0, "spill_st": 0, "spill_ld": 0, "stack": 0}
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            res[cur].update(stack=int(m.group(1)), spill_st=int(m.group(2)), spill_ld=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            res[cur]["regs"] = int(m.group(1))
    return res


def old_abi_copy(cubin, out):
    """CUDA 12.8+ writes ELF ABI version 8 with a new e_flags layout that older disassemblers reject; write the
    sm number in the old layout (e_flags = sm | 0x500 | sm << 16, ABI version 7). Code is not touched."""
    d = bytearray(open(cubin, "rb").read())
    if d[:4] != b"\x7fELF":
        sys.exit(f"sass_report: {cubin} is not an ELF file")
    if d[8] >= 8:
        flags = struct.unpack_from("<I", d, 0x30)[0]
        sm = (flags >> 8) & 0xFF  # new layout: the sm number in bits 8..15
        if not 20 <= sm <= 200:
            sys.exit(f"sass_report: cannot read the sm number from e_flags {flags:#x}")
        d[7], d[8] = 0x33, 7
        struct.pack_into("<I", d, 0x30, sm | 0x500 | (sm << 16))
    open(out, "wb").write(d)


def text_sizes(cubin):
    """Mangled kernel name -> bytes of its .text section, read from the ELF section headers."""
    d = open(cubin, "rb").read()
    if d[:4] != b"\x7fELF" or d[4] != 2:
        sys.exit(f"sass_report: {cubin} is not a 64-bit ELF file")
    shoff = struct.unpack_from("<Q", d, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
    if shoff + shnum * shentsize > len(d) or shstrndx >= shnum:
        sys.exit(f"sass_report: {cubin}: section headers out of range")
    def header(i):
        return struct.unpack_from("<IIQQQQ", d, shoff + i * shentsize)  # name, type, flags, addr, offset, size
    str_off = header(shstrndx)[4]
    out = {}
    for i in range(shnum):
        name_off, _, _, _, _, size = header(i)
        end = d.find(b"\0", str_off + name_off)
        if str_off + name_off >= len(d) or end < 0:
            sys.exit(f"sass_report: {cubin}: section name {i} out of range")
        name = d[str_off + name_off:end].decode()
        if name.startswith(".text."):
            out[name[len(".text."):]] = size
    return out


def check_budgets(path, arch):
    """Each line of `path`: FILE.cu REGEX MAX_KIB (# comment). Every kernel of FILE whose demangled name
    matches REGEX must take at most MAX_KIB of code; a REGEX matching nothing is an error too."""
    if not os.path.isfile(path):
        sys.exit(f"sass_report: no such budget file: {path}")
    rules = []
    for ln, line in enumerate(open(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            sys.exit(f"sass_report: {path}:{ln}: want 'FILE.cu REGEX MAX_KIB', got {line!r}")
        try:
            budget = float(parts[2])
            re.compile(parts[1])
        except (ValueError, re.error) as e:
            sys.exit(f"sass_report: {path}:{ln}: bad rule {line!r}: {e}")
        rules.append((parts[0], parts[1], budget, ln))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted({r[0] for r in rules}):
            if not os.path.isfile(os.path.join(ROOT, src)):
                sys.exit(f"sass_report: {path}: no such source: {src}")
            cubin = os.path.join(tmp, "k.cubin")
            compile_cubin(os.path.join(ROOT, src), cubin, arch, [])
            sizes = text_sizes(cubin)
            names = dict(zip(sizes, demangle(list(sizes))))
            for f, rx, budget, ln in (r for r in rules if r[0] == src):
                hits = [(names[k], v) for k, v in sizes.items() if re.search(rx, names[k])]
                if not hits:
                    print(f"FAIL {src} {rx}: no kernel matches ({path}:{ln})")
                    failures += 1
                for nice, v in sorted(hits):
                    ok = v / 1024 <= budget
                    failures += not ok
                    print(f"{'ok  ' if ok else 'FAIL'} {v / 1024:7.1f} KiB <= {budget:g}  {nice[:110]}")
    if failures:
        sys.exit(f"sass_report: {failures} code-budget failure(s): a kernel over its budget or a rule matching none ({path})")


def disassemble(nvdisasm, cubin, lineinfo=False):
    r = subprocess.run([nvdisasm, "-c"] + (["-g"] if lineinfo else []) + [cubin], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sass_report: nvdisasm failed: {r.stderr.strip()}")
    return r.stdout


LINE = re.compile(r'//## File "([^"]+)", line (\d+)')


def bytes_per_line(body):
    """(file, line) -> instructions attributed to it (nvdisasm -g puts a line marker before each run)."""
    out, cur = collections.Counter(), None
    for ln in body.splitlines():
        m = LINE.search(ln)
        if m:
            cur = (os.path.relpath(os.path.normpath(m.group(1)), ROOT), int(m.group(2)))
        elif cur and INSTR.search(ln):
            out[cur] += 1
    return out


INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Z0-9_]+)*)")


def kernels_of(sass):
    parts = re.split(r"\n//-+ \.text\.(\S+) -+\n", sass)
    for name, body in zip(parts[1::2], parts[2::2]):
        yield name, INSTR.findall(body), body


def demangle(names):
    try:
        r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
        return r.stdout.splitlines()
    except OSError:
        return names


GROUPS = [
    ("tensor", ("HMMA", "IMMA", "HGMMA", "DMMA")),
    ("shared", ("LDS", "STS", "LDSM")),
    ("global", ("LDG", "STG", "RED", "ATOMG", "LD", "ST")),
    ("local", ("LDL", "STL")),
    ("fp32", ("FFMA", "FADD", "FMUL", "FMNMX", "FSETP", "FSEL", "FCHK", "FSET")),
    ("int", ("IADD3", "IMAD", "LOP3", "SHF", "LEA", "ISETP", "SEL", "IABS", "IMNMX", "PRMT", "I2FP", "F2I", "POPC")),
    ("mufu", ("MUFU",)),
    ("move", ("MOV", "CS2R", "S2R", "S2UR", "ULDC", "LDC", "UMOV", "R2UR")),
    ("control", ("BRA", "BSSY", "BSYNC", "CALL", "RET", "EXIT", "WARPSYNC", "BAR", "NOP", "SHFL", "VOTE")),
]


def summarize(name, ins, res):
    ops = collections.Counter(op for _, _, op, _ in ins)
    size = (int(ins[-1][0], 16) + 16) if ins else 0
    grouped = {}
    seen = set()
    for g, members in GROUPS:
        grouped[g] = sum(ops[m] for m in members)
        seen.update(members)
    grouped["other"] = sum(c for op, c in ops.items() if op not in seen)
    return {"name": name, "bytes": size, "instructions": len(ins), "groups": grouped, "top": ops.most_common(12), **res}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="*", help=".cu files (paths from the repository root or absolute)")
    ap.add_argument("--check-budgets", metavar="FILE", help="code size against the budgets in FILE (no disassembler)")
    ap.add_argument("--generated", metavar="DIR", help="the generated kernels in DIR (ORBIT_EMIT_CUDA_KERNELS)")
    ap.add_argument("--kernel", default=None, help="only kernels whose demangled name matches this regex")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--dump", default=None, help="write each kernel's SASS into this folder")
    ap.add_argument("--lines", type=int, default=0, metavar="N",
                    help="also the N source lines with the most instructions (compiles with -lineinfo)")
    ap.add_argument("-X", dest="extra", action="append", default=[], help="extra nvcc flag (repeatable)")
    a = ap.parse_args()
    if a.check_budgets:
        check_budgets(a.check_budgets, a.arch)
        return
    if not a.sources and not a.generated:
        ap.error("give .cu files, --generated DIR or --check-budgets FILE")
    nvdisasm = find_nvdisasm()
    if a.generated:
        report_generated(a.generated, nvdisasm, a.arch)
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for src in a.sources:
            path = src if os.path.isabs(src) else os.path.join(ROOT, src)
            if not os.path.isfile(path):
                sys.exit(f"sass_report: no such file: {src}")
            cubin = os.path.join(tmp, "k.cubin")
            log = compile_cubin(path, cubin, a.arch, a.extra, lineinfo=a.lines > 0)
            res = ptxas_resources(log)
            old = os.path.join(tmp, "k_old.cubin")
            old_abi_copy(cubin, old)
            sass = disassemble(nvdisasm, old, lineinfo=a.lines > 0)
            ks = list(kernels_of(sass))
            pretty = demangle([k for k, _, _ in ks])
            print(f"== {src} ({a.arch})")
            for (name, ins, body), nice in zip(ks, pretty):
                if a.kernel and not re.search(a.kernel, nice):
                    continue
                s = summarize(nice, ins, res.get(name, {}))
                g = s["groups"]
                spill = f", spills {s.get('spill_st', 0)}/{s.get('spill_ld', 0)} B" if s.get("spill_st") or s.get("spill_ld") else ""
                print(f"{nice[:150]}")
                unknown = s["bytes"] // 16 - s["instructions"]  # 16-byte instructions; older disassemblers skip a few
                unk = f" (+{unknown} the disassembler could not print)" if unknown > 0 else ""
                print(f"  {s.get('regs', '?')} registers{spill}; {s['instructions']} instructions{unk}, {s['bytes'] / 1024:.1f} KiB of code")
                print("  " + ", ".join(f"{k} {v}" for k, v in g.items() if v))
                if g["tensor"]:
                    print(f"  non-tensor instructions per tensor op: {(s['instructions'] - g['tensor']) / g['tensor']:.1f} (static)")
                if a.lines:
                    per_line = bytes_per_line(body)
                    print(f"  largest source lines (instructions, share):")
                    for (f, ln), c in per_line.most_common(a.lines):
                        print(f"    {c:6d} {100 * c / max(1, len(ins)):5.1f}%  {f}:{ln}")
                if a.dump:
                    safe = re.sub(r"[^A-Za-z0-9_]+", "_", nice)[:100]
                    with open(os.path.join(a.dump, safe + ".sass"), "w") as f:
                        for addr, pred, op, mods in ins:
                            f.write(f"{addr} {pred}{op}{mods}\n")


def report_generated(folder, nvdisasm, arch):
    """One line per generated kernel: what it fuses, registers, spills, code size, instructions; all the
    files compiled as one translation unit, with NVRTC's options (kernels/cuda/nvrtc.cpp)."""
    if not os.path.isdir(folder):
        sys.exit(f"sass_report: no such folder: {folder}")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".cu"))
    if not files:
        sys.exit(f"sass_report: no .cu files in {folder}")
    ops = {}
    for f in files:
        with open(os.path.join(folder, f)) as fh:
            first = fh.readline()
        ops[f[:-3]] = first.split(": ", 1)[1].strip() if ": " in first else "?"
    with tempfile.TemporaryDirectory() as tmp:
        tu = os.path.join(tmp, "all.cu")
        with open(tu, "w") as fh:
            for f in files:
                fh.write(f'#include "{os.path.abspath(os.path.join(folder, f))}"\n')
        cubin = os.path.join(tmp, "g.cubin")
        log = compile_cubin(tu, cubin, arch, ["-DORBIT_NVRTC=1", "--fmad=false"])
        res = ptxas_resources(log)
        old = os.path.join(tmp, "g_old.cubin")
        old_abi_copy(cubin, old)
        rows = []
        for name, ins, _ in kernels_of(disassemble(nvdisasm, old)):
            r = res.get(name, {})
            size = (int(ins[-1][0], 16) + 16) if ins else 0
            rows.append((size, name, r, len(ins)))
    print(f"== {len(rows)} generated kernels in {folder} ({arch}), largest first")
    print(f"{'KiB':>6} {'regs':>4} {'spill':>6} {'instr':>6}  kernel: fused ops")
    for size, name, r, n in sorted(rows, reverse=True):
        spill = r.get("spill_st", 0) + r.get("spill_ld", 0)
        print(f"{size / 1024:6.1f} {r.get('regs', 0):4d} {spill:6d} {n:6d}  {name}: {ops.get(name, '?')[:90]}")


if __name__ == "__main__":
    main()
