# Build the Windows bundle (packaging\dist\llm-workbench\) and its Inno Setup installer
# (packaging\dist\llm-workbench-VERSION-windows-x64[-VARIANT]-setup.exe).
#
#   powershell -File packaging\build-windows.ps1 [-Variant cpu|cuda]
#
# Needs: the project installed in the Python environment ($env:PYTHON, else .venv, else
# python on PATH), for the CUDA variant llama-cpp-python built with CMAKE_ARGS="-DGGML_CUDA=on"
# and CUDA_PATH set; the VC++ 2015-2022 redistributable (vcomp140.dll); Inno Setup 6 (iscc).
# PyInstaller is a build tool, not a dependency of the app: it is installed here.
param([string]$Variant = "cpu")
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")

$python = if ($env:PYTHON) { $env:PYTHON }
          elseif (Test-Path ".venv\Scripts\python.exe") { ".venv\Scripts\python.exe" }
          else { "python" }
& $python -m pip install --quiet "pyinstaller>=6.10"
& $python -m PyInstaller packaging\workbench.spec --noconfirm --log-level WARN `
    --workpath packaging\build --distpath packaging\dist
if ($LASTEXITCODE) { exit $LASTEXITCODE }

$version = & $python -c "import workbench; print(workbench.__version__)"
$iscc = Get-Command iscc -ErrorAction SilentlyContinue
$iscc = if ($iscc) { $iscc.Source } else { "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc /Q "/DVersion=$version" "/DVariant=$Variant" packaging\windows\workbench.iss
if ($LASTEXITCODE) { exit $LASTEXITCODE }
Get-ChildItem packaging\dist\*-setup.exe | ForEach-Object { "built $($_.FullName)" }
