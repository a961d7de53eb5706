"""llama.cpp's own tools, built once from the source the installed llama-cpp-python was built from.

The engine benchmarks compare Workbench with ``llama-bench``, ``llama-server`` and
``llama-batched-bench``. Those are only a fair reference when they run the same llama.cpp as
Workbench does, with the same CPU code paths: so they are built from the llama-cpp-python sdist
of the installed version (its ``vendor/llama.cpp`` is the source the wheel was built from),
Release, native CPU flags as the wheel's default source build uses, OpenMP as the wheel has it,
and only those three targets. The binaries are cached under the user's cache folder, keyed by
the llama-cpp-python version and the machine, so any developer machine builds them once (a few
minutes at two jobs) and every later benchmark finds them. Benchmarks are not part of CI.

    python benchmarks/llama_tools.py [--sdist PATH] [--jobs 2]   # build (or find) and print paths

``tool(name)`` is what the benchmarks call: the cached binary, else one on PATH, else None.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import platformdirs

TOOLS = ("llama-bench", "llama-server", "llama-batched-bench")
PACKAGE = "llama-cpp-python"


def version() -> str:
    return importlib.metadata.version(PACKAGE)


def cache_dir() -> Path:
    """Where this version's tools live: the user's cache folder, keyed by version and machine
    (native CPU flags make a build belong to the machine that made it)."""
    key = f"{version()}-{platform.machine()}-{platform.node() or 'host'}"
    return Path(platformdirs.user_cache_dir("workbench", appauthor=False)) / "llama-tools" / key


def cached(name: str) -> Path | None:
    path = cache_dir() / name
    return path if path.is_file() else None


def tool(name: str) -> str | None:
    """The built tool for the installed version, else one on PATH (which may be another
    llama.cpp: the benchmark says which it used), else None."""
    path = cached(name)
    if path is not None:
        return str(path)
    return shutil.which(name)


def find_sdist(folder: Path) -> Path:
    """The sdist of the installed version: pip downloads it (from its own cache when it has
    it), source only, no dependencies."""
    wanted = f"{PACKAGE}=={version()}"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                    "--no-deps", "--no-build-isolation", wanted, "-d", str(folder)],
                   check=True, timeout=1800)
    found = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        sys.exit(f"{wanted}: pip gave no sdist in {folder}")
    return found[0]


WHEEL_TARGETS = """
# Written by benchmarks/llama_tools.py: llama.cpp's libraries are the installed wheel's own.
set(WHEEL_LIB "{lib}")
foreach(name ggml-base ggml-cpu ggml llama mtmd)
    add_library(${{name}} SHARED IMPORTED GLOBAL)
    set_target_properties(${{name}} PROPERTIES IMPORTED_LOCATION "${{WHEEL_LIB}}/lib${{name}}.so")
endforeach()
set_target_properties(ggml PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${{CMAKE_CURRENT_SOURCE_DIR}}/ggml/include"
    INTERFACE_LINK_LIBRARIES "ggml-base;ggml-cpu")
set_target_properties(llama PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${{CMAKE_CURRENT_SOURCE_DIR}}/include"
    INTERFACE_LINK_LIBRARIES "ggml")
set_target_properties(mtmd PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${{CMAKE_CURRENT_SOURCE_DIR}}/tools/mtmd"
    INTERFACE_LINK_LIBRARIES "llama")
"""

ONLY_TOOLS = """
    add_subdirectory(batched-bench)
    add_subdirectory(llama-bench)
    add_subdirectory(ui)
    add_subdirectory(server)
endif()
"""


def wheel_lib() -> Path:
    """The installed wheel's llama.cpp libraries (libllama.so and the ggml ones)."""
    import llama_cpp

    return Path(llama_cpp.__file__).resolve().parent / "lib"


def patch_source(source: Path, lib: Path) -> None:
    """Make llama.cpp's own build use the wheel's libraries instead of compiling its own, and
    configure only the three tools: the tools then run the very kernels Workbench runs (the
    wheel's CPU flags, whatever they were), and the build is the tools' own sources only."""
    top = source / "CMakeLists.txt"
    text = top.read_text()
    text = text.replace("if (LLAMA_USE_SYSTEM_GGML)\n",
                        WHEEL_TARGETS.format(lib=lib) + "if (LLAMA_USE_SYSTEM_GGML)\n", 1)
    text = text.replace("add_subdirectory(src)\n", "", 1)
    top.write_text(text[:text.index("include(GNUInstallDirs)")])  # no install rules
    tools = source / "tools" / "CMakeLists.txt"
    text = tools.read_text()
    head = text[:text.index("    add_subdirectory(batched-bench)")]
    tools.write_text(head + ONLY_TOOLS)


def build(sdist: Path | None = None, jobs: int = 2, timeout: float = 900,
          names: tuple[str, ...] = ()) -> Path:
    """Build the tools into the cache (unless already there); the cache folder. The wheel's
    shared libraries are copied next to them (found through an ``$ORIGIN`` run path)."""
    target = cache_dir()
    if all(cached(name) for name in names or TOOLS):
        return target
    lib = wheel_lib()
    # The source and build folders are kept under the cache until the tools are made: a build
    # cut short (the time limit, Ctrl+C) resumes where it stopped instead of starting over.
    work = target.parent / f"{target.name}.work"
    work.mkdir(parents=True, exist_ok=True)
    source = next(work.glob("*/vendor/llama.cpp"), None)
    if source is None:
        if sdist is None:
            sdist = find_sdist(work)
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
            archive.extractall(work, members=members, filter="data")
        source = next(work.glob("*/vendor/llama.cpp"))
        patch_source(source, lib)
    out = work / "build"
    configure = [
        "cmake", "-S", str(source), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
        # llama.cpp's common code and the tools' logic linked in (only the wheel's libraries
        # are shared), found beside the binaries through $ORIGIN.
        "-DBUILD_SHARED_LIBS=OFF", "-DCMAKE_BUILD_RPATH=$ORIGIN",
    ]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    started = time.monotonic()
    if not (out / "CMakeCache.txt").exists():
        subprocess.run(configure, check=True, timeout=600)
    subprocess.run(["cmake", "--build", str(out), "--config", "Release", "-j", str(jobs),
                    "--target", *(names or TOOLS)], check=True, timeout=timeout)
    target.mkdir(parents=True, exist_ok=True)
    # The wheel's libraries, and the tools' own (llama.cpp builds its common code and each
    # tool's logic as shared libraries): all beside the binaries, found through $ORIGIN.
    for so in [*lib.glob("lib*.so*"), *(out / "bin").glob("lib*.so*")]:
        shutil.copy2(so, target / so.name, follow_symlinks=True)
    for name in names or TOOLS:
        built = next((p for p in out.rglob(name) if p.is_file()), None)
        if built is None:
            sys.exit(f"{name}: the build made no such binary")
        partial = target / f"{name}.partial"
        shutil.copy2(built, partial)
        partial.rename(target / name)
    for name in names or TOOLS:
        check_runs(target / name)
    if all(cached(name) for name in TOOLS):
        shutil.rmtree(work, ignore_errors=True)  # only once every tool is known to start
    print(f"built {', '.join(TOOLS)} in {time.monotonic() - started:.0f} s")
    return target


def check_runs(path: Path) -> None:
    """The tool starts (its libraries are found): else it is removed from the cache, so the
    next build makes it again, and the build stops with the loader's reason."""
    done = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        path.unlink()
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"{path.name}: does not start ({reason[0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="the llama-cpp-python sdist (default: pip)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=TOOLS, default=[],
                        help="build only these tools (llama-server takes the longest)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds the build may take; a build cut short resumes")
    args = parser.parse_args()
    folder = build(args.sdist, args.jobs, args.timeout, tuple(args.only))
    for name in args.only or TOOLS:
        print(folder / name)


if __name__ == "__main__":
    main()
