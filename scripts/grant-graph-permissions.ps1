<#
.SYNOPSIS
Grants the app's managed identity (or app registration) exactly the Microsoft Graph application permissions it needs.

.DESCRIPTION
Microsoft Graph PowerShell version of scripts/grant-graph-permissions.sh. Assigns User.Invite.All,
GroupMember.ReadWrite.All and User.Read.All (plus, with -SharePoint, Sites.Selected or, with -SitesReadWriteAll,
Sites.ReadWrite.All) to a service principal; with -SharePoint also the SharePoint REST role the webhook subscription
needs (Office 365 SharePoint Online's Sites.Selected, or Sites.Manage.All with -SitesReadWriteAll).
Already-granted permissions are left as they are; every step is printed.
A managed identity gets app roles only through this API: the portal has no button for it.
Needs the Microsoft.Graph.Applications module (and Microsoft.Graph.Sites for -SiteUrl), and an account that may
grant Graph application permissions (Privileged Role Administrator or Global Administrator); -SiteUrl needs a
SharePoint Administrator. See docs/deploy.md.

.EXAMPLE
./scripts/grant-graph-permissions.ps1 -PrincipalId <principal object id>
./scripts/grant-graph-permissions.ps1 -PrincipalId <id> -SharePoint -SiteUrl https://contoso.sharepoint.com/sites/onboarding
./scripts/grant-graph-permissions.ps1 -FromAzd      # the azd post-provision hook (azure.yaml)
#>
[CmdletBinding()]
param(
    # Object id of the service principal (for a managed identity: its principal id).
    [string]$PrincipalId,
    # Read APP_IDENTITY_PRINCIPAL_ID (and SHAREPOINT_SITE_URL, if set) from the azd environment.
    [switch]$FromAzd,
    # Also grant Sites.Selected on Microsoft Graph and on SharePoint (then grant the site itself with -SiteUrl).
    [switch]$SharePoint,
    # With -SharePoint: Graph's Sites.ReadWrite.All and SharePoint's Sites.Manage.All instead (fallback; EVERY site).
    [switch]$SitesReadWriteAll,
    # Grant the identity the 'write' role on this one site (what Sites.Selected needs).
    [string]$SiteUrl,
    # Also grant User.ReadWrite.All: setting a guest's sponsors (SPONSORS_ENABLED=true; docs/lifecycle.md).
    [switch]$Sponsors,
    # Also grant what OFFBOARDING_ACTION needs: disable = User.EnableDisableAccount.All, delete = User.DeleteRestore.All.
    [ValidateSet('none', 'disable', 'delete')]
    [string]$Offboarding = 'none',
    # Show what would be granted, change nothing.
    [switch]$DryRun
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$GraphAppId = '00000003-0000-0000-c000-000000000000'  # Microsoft Graph's service principal appId
# SharePoint REST (the list webhook subscription) takes tokens for SharePoint, whose roles come from this service
# principal (sp-dev-docs apis/webhooks/lists/create-subscription.md). Its app role ids are not in Microsoft's
# published permissions reference, so the role is looked up by value at run time.
$SharePointAppId = '00000003-0000-0ff1-ce00-000000000000'  # Office 365 SharePoint Online's appId
# Application permission (app role) ids on Microsoft Graph (learn.microsoft.com/graph/permissions-reference).
$RoleNames = [ordered]@{
    '09850681-111b-4a89-9bed-3f2cae46d706' = 'User.Invite.All'
    'dbaae8cf-10b5-4b86-a4a1-f871c94c6695' = 'GroupMember.ReadWrite.All'
    'df021288-bdef-4463-88db-98f22de89214' = 'User.Read.All'
    '883ea226-0bf2-4a8f-9f9d-92c9162a727d' = 'Sites.Selected'
    '9492366f-7969-46a4-8d15-ed1a20078fff' = 'Sites.ReadWrite.All'
    '741f803b-c850-494e-b5df-cde7c675a1ca' = 'User.ReadWrite.All'
    '3011c876-62b7-4ada-afa2-506cbbecc68c' = 'User.EnableDisableAccount.All'
    'eccc023d-eccf-4e7b-9683-8813ab36cecc' = 'User.DeleteRestore.All'
}

function Get-AzdValue([string]$Name) {
    # Hooks get the azd environment as environment variables; otherwise ask azd.
    $value = [Environment]::GetEnvironmentVariable($Name)
    if (-not $value -and (Get-Command azd -ErrorAction SilentlyContinue)) {
        $value = (azd env get-value $Name 2>$null)
        if ($LASTEXITCODE -ne 0) { $value = '' }
    }
    return $value
}

function Get-WantedRoles {
    $wanted = @('09850681-111b-4a89-9bed-3f2cae46d706', 'dbaae8cf-10b5-4b86-a4a1-f871c94c6695',
        'df021288-bdef-4463-88db-98f22de89214')
    if ($SharePoint -and $SitesReadWriteAll) { $wanted += '9492366f-7969-46a4-8d15-ed1a20078fff' }
    elseif ($SharePoint) { $wanted += '883ea226-0bf2-4a8f-9f9d-92c9162a727d' }
    if ($Sponsors) { $wanted += '741f803b-c850-494e-b5df-cde7c675a1ca' }
    if ($Offboarding -eq 'disable') { $wanted += '3011c876-62b7-4ada-afa2-506cbbecc68c' }
    elseif ($Offboarding -eq 'delete') { $wanted += 'eccc023d-eccf-4e7b-9683-8813ab36cecc' }
    return $wanted
}

function Get-SharePointRole {
    # Sites.Selected (edit rights on the one site come from the site grant); fallback Sites.Manage.All ("Read and
    # write items and lists in all site collections", what create-subscription.md names). By value, application
    # roles only. Resolved before anything is granted, so a tenant without it changes nothing.
    $value = if ($SitesReadWriteAll) { 'Sites.Manage.All' } else { 'Sites.Selected' }
    $sp = Get-MgServicePrincipal -Filter "appId eq '$SharePointAppId'"
    if (-not $sp) {
        throw "Office 365 SharePoint Online's service principal ($SharePointAppId) was not found in this tenant."
    }
    $role = @($sp.AppRoles | Where-Object { $_.Value -eq $value -and $_.AllowedMemberTypes -contains 'Application' })
    if ($role.Count -eq 0) { throw "Office 365 SharePoint Online has no application role $value." }
    return @{ Sp = $sp; Roles = [ordered]@{ $role[0].Id = "SharePoint $value" } }
}

function Grant-AppRoles($ResourceSp, $Roles) {
    # $Roles: app role id -> name, on the resource service principal $ResourceSp.
    $assigned = @(Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $PrincipalId -All |
        Where-Object { $_.ResourceId -eq $ResourceSp.Id } | ForEach-Object { $_.AppRoleId })
    foreach ($role in $Roles.Keys) {
        $name = $Roles[$role]
        if ($assigned -contains $role) { Write-Host "already granted: $name ($role)"; continue }
        if ($DryRun) { Write-Host "would grant:     $name ($role)"; continue }
        try {
            New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $PrincipalId -PrincipalId $PrincipalId `
                -ResourceId $ResourceSp.Id -AppRoleId $role | Out-Null
        }
        catch {
            Write-Error ("Granting $name failed: $($_.Exception.Message)`n" +
                "Ask a Privileged Role Administrator (or Global Administrator) to run this script. Until then the app " +
                "answers 502 naming the missing permission, and 'python cli.py doctor' lists it.")
        }
        Write-Host "granted:         $name ($role)"
    }
}

function Grant-SiteWrite($Principal) {
    # Sites.Selected grants nothing by itself: the identity also needs a role on each site
    # (POST /sites/{id}/permissions, Graph docs site-post-permissions; caller: SharePoint Administrator).
    $uri = [Uri]$SiteUrl
    if ($uri.Scheme -ne 'https') { throw "-SiteUrl must be an https URL: $SiteUrl" }
    $path = $uri.AbsolutePath.TrimEnd('/')
    $siteKey = if ($path) { "$($uri.Host):$path" } else { $uri.Host }
    $site = Get-MgSite -SiteId $siteKey
    $granted = @(Get-MgSitePermission -SiteId $site.Id -All | Where-Object {
            @($_.GrantedToIdentitiesV2 | Where-Object { $_.Application.Id -eq $Principal.AppId }).Count -gt 0 -or
            @($_.GrantedToIdentities | Where-Object { $_.Application.Id -eq $Principal.AppId }).Count -gt 0
        } | ForEach-Object { $_.Roles })
    if ($granted | Where-Object { $_ -in @('write', 'owner', 'fullcontrol') }) {
        Write-Host "already granted: site write on $SiteUrl"; return
    }
    if ($DryRun) { Write-Host "would grant:     site write on $SiteUrl"; return }
    $body = @{
        roles               = @('write')
        grantedToIdentities = @(@{ application = @{ id = $Principal.AppId; displayName = $Principal.DisplayName } })
    }
    New-MgSitePermission -SiteId $site.Id -BodyParameter $body | Out-Null
    Write-Host "granted:         site write on $SiteUrl"
}

if ($FromAzd) {
    $PrincipalId = Get-AzdValue 'APP_IDENTITY_PRINCIPAL_ID'
    if (-not $PrincipalId) { throw "APP_IDENTITY_PRINCIPAL_ID is not in the azd environment: run 'azd provision' first" }
    $azdSite = Get-AzdValue 'SHAREPOINT_SITE_URL'
    if ($azdSite) { $SharePoint = $true; $SiteUrl = $azdSite }
    if ((Get-AzdValue 'SPONSORS_ENABLED') -eq 'true') { $Sponsors = $true }
    $azdOffboarding = Get-AzdValue 'OFFBOARDING_ACTION'
    if ($azdOffboarding) {
        if ($azdOffboarding -notin @('none', 'disable', 'delete')) { throw "OFFBOARDING_ACTION is none, disable or delete, not '$azdOffboarding'" }
        $Offboarding = $azdOffboarding
    }
}
if (-not $PrincipalId) { throw 'Give -PrincipalId <object id> or -FromAzd.' }
if ($SiteUrl -and -not $SharePoint) { throw '-SiteUrl goes with -SharePoint.' }

$scopes = @('AppRoleAssignment.ReadWrite.All', 'Application.Read.All')
if ($SiteUrl -and -not $SitesReadWriteAll) { $scopes += 'Sites.FullControl.All' }
Connect-MgGraph -Scopes $scopes -NoWelcome

$principal = Get-MgServicePrincipal -ServicePrincipalId $PrincipalId
$graphSp = Get-MgServicePrincipal -Filter "appId eq '$GraphAppId'"
if (-not $graphSp) { throw "Microsoft Graph's service principal was not found in this tenant." }
$sharePointRole = if ($SharePoint) { Get-SharePointRole } else { $null }

Write-Host "Microsoft Graph permissions for $($principal.DisplayName) (object id $PrincipalId, app id $($principal.AppId))"
$graphRoles = [ordered]@{}
foreach ($role in Get-WantedRoles) { $graphRoles[$role] = $RoleNames[$role] }
Grant-AppRoles $graphSp $graphRoles
if ($sharePointRole) { Grant-AppRoles $sharePointRole.Sp $sharePointRole.Roles }
if ($SiteUrl -and -not $SitesReadWriteAll) { Grant-SiteWrite $principal }
elseif ($SharePoint -and -not $SitesReadWriteAll) {
    Write-Host 'note: Sites.Selected needs a site grant too: rerun with -SiteUrl <site URL>'
}
Write-Host 'Check with: python cli.py doctor   (or GET /api/health)'
