; Inno Setup 6 script for the Windows installer of Workbench.
; Built by packaging\build-windows.ps1 from the PyInstaller bundle in packaging\dist\llm-workbench:
;   iscc /DVersion=0.1.0 /DVariant=cpu packaging\windows\workbench.iss
;
; Upgrades: AppId never changes, so a newer installer replaces the previous version in place.
; The user's data is not in the install folder (it is in %LOCALAPPDATA%\llm-workbench, see
; workbench/paths.py), so installing, upgrading and uninstalling never touch it, unless the
; user answers Yes to the uninstaller's question (default No) to delete it too.

#ifndef Version
  #define Version "0.0.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#if Variant == "cpu"
  #define Suffix ""
#else
  #define Suffix "-" + Variant
#endif
#define AppName "Workbench"
#define AppExe "llm-workbench.exe"
#define Bundle "..\dist\llm-workbench"

[Setup]
AppId={{94FA784A-4937-434A-950F-7C2C74D3FAC9}
AppName={#AppName}
AppVersion={#Version}
AppVerName={#AppName} {#Version}
AppPublisher=Workbench
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no admin prompt); the user may choose all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\dist
OutputBaseFilename=llm-workbench-{#Version}-windows-x64{#Suffix}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; The previous version's bundle goes first, so no stale DLL or module outlives an upgrade.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
var
  DeleteUserData: Boolean;

{ The data folder the app uses: LLM_WORKBENCH_HOME if set, else platformdirs' user data dir. }
function UserDataDir(): String;
begin
  Result := GetEnv('LLM_WORKBENCH_HOME');
  if Result = '' then
    Result := ExpandConstant('{localappdata}\llm-workbench');
end;

function InitializeUninstall(): Boolean;
begin
  Result := True;
  DeleteUserData := False;
  { A silent uninstall (scripts, upgrades by tools) always keeps the data. }
  if UninstallSilent() or not DirExists(UserDataDir()) then
    Exit;
  DeleteUserData := MsgBox('Also delete your Workbench data?' + #13#10#13#10 +
    'Downloaded models, conversations, trials and settings in' + #13#10 + UserDataDir() +
    #13#10#13#10 + 'Choose No to keep them for a later install (recommended).',
    mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and DeleteUserData then
    DelTree(UserDataDir(), True, True, True);
end;
