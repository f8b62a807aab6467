#!/usr/bin/env bash
# Grant the app's managed identity (or app registration) exactly the Microsoft Graph application permissions it
# needs (with --sharepoint also SharePoint's own app role), idempotently, printing what it did. Azure CLI only
# (`az rest` against Graph): the portal has no button for giving a managed identity app roles (cloud-facts
# "Permissions"; Graph docs serviceprincipal-post-approleassignedto).
#
#   scripts/grant-graph-permissions.sh --principal-id <object id> [--sharepoint [--site-url URL]] [--sponsors]
#                                      [--offboarding disable|delete] [--dry-run]
#   scripts/grant-graph-permissions.sh --from-azd        # the azd post-provision hook (azure.yaml)
#
# The signed-in `az` user needs the right to grant Graph application permissions (Privileged Role Administrator
# or Global Administrator); the site grant (--site-url) needs a SharePoint Administrator. See docs/deploy.md.
set -euo pipefail

readonly GRAPH_APP_ID="00000003-0000-0000-c000-000000000000" # Microsoft Graph's service principal appId
# Application permission (app role) ids on Microsoft Graph (learn.microsoft.com/graph/permissions-reference).
readonly USER_INVITE_ALL="09850681-111b-4a89-9bed-3f2cae46d706"
readonly GROUP_MEMBER_READWRITE_ALL="dbaae8cf-10b5-4b86-a4a1-f871c94c6695"
readonly USER_READ_ALL="df021288-bdef-4463-88db-98f22de89214"
readonly SITES_SELECTED="883ea226-0bf2-4a8f-9f9d-92c9162a727d"
readonly SITES_READWRITE_ALL="9492366f-7969-46a4-8d15-ed1a20078fff"
# Opt-in guest lifecycle features (docs/lifecycle.md), each its least privileged permission (Graph API pages):
# sponsors (user-post-sponsors), block sign-in (user-update accountEnabled, with User.Read.All), delete (user-delete).
readonly USER_READWRITE_ALL="741f803b-c850-494e-b5df-cde7c675a1ca"
readonly USER_ENABLE_DISABLE_ACCOUNT_ALL="3011c876-62b7-4ada-afa2-506cbbecc68c"
readonly USER_DELETE_RESTORE_ALL="eccc023d-eccf-4e7b-9683-8813ab36cecc"
# SharePoint REST (the list webhook subscription) takes tokens for SharePoint, whose roles come from this service
# principal ("Office 365 SharePoint Online"; sp-dev-docs apis/webhooks/lists/create-subscription.md). Its app role
# ids are not in Microsoft's published permissions reference, so they are looked up by value at run time.
readonly SHAREPOINT_APP_ID="00000003-0000-0ff1-ce00-000000000000"

usage() {
  cat <<'EOF'
Usage: grant-graph-permissions.sh (--principal-id ID | --from-azd) [options]

Grants Microsoft Graph application permissions to a service principal (a managed identity or an app
registration's enterprise app): User.Invite.All, GroupMember.ReadWrite.All, User.Read.All. Already-granted
permissions are left as they are.

  --principal-id ID      object id of the service principal (for a managed identity: its principal id)
  --from-azd             read APP_IDENTITY_PRINCIPAL_ID from the azd environment; if SHAREPOINT_SITE_URL is
                         set there too, act as if --sharepoint --site-url "$SHAREPOINT_SITE_URL" were given;
                         SPONSORS_ENABLED=true and OFFBOARDING_ACTION there act as --sponsors / --offboarding
  --sharepoint           also grant Microsoft Graph's Sites.Selected and Office 365 SharePoint Online's
                         Sites.Selected (for the webhook subscription; then grant the site itself with --site-url)
  --sites-readwrite-all  with --sharepoint: grant Graph's Sites.ReadWrite.All and SharePoint's Sites.Manage.All
                         instead (fallback for tenants where a site-level grant is impossible; EVERY site)
  --site-url URL         grant the identity the 'write' role on this one site (what Sites.Selected needs)
  --sponsors             also grant User.ReadWrite.All (setting a guest's sponsors: SPONSORS_ENABLED=true)
  --offboarding ACTION   also grant what OFFBOARDING_ACTION needs: disable = User.EnableDisableAccount.All,
                         delete = User.DeleteRestore.All
  --graph-endpoint URL   Graph host (default: $GRAPH_ENDPOINT or https://graph.microsoft.com)
  --dry-run              show what would be granted, change nothing
  -h, --help             this text
EOF
}

log() { printf '%s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

principal_id=""
from_azd=false
sharepoint=false
sites_readwrite_all=false
site_url=""
sponsors=false
offboarding=none
graph="${GRAPH_ENDPOINT:-https://graph.microsoft.com}"
dry_run=false

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --principal-id) principal_id="${2:?--principal-id needs a value}"; shift 2 ;;
      --from-azd) from_azd=true; shift ;;
      --sharepoint) sharepoint=true; shift ;;
      --sites-readwrite-all) sites_readwrite_all=true; shift ;;
      --site-url) site_url="${2:?--site-url needs a value}"; shift 2 ;;
      --sponsors) sponsors=true; shift ;;
      --offboarding) offboarding="${2:?--offboarding needs disable, delete or none}"; shift 2 ;;
      --graph-endpoint) graph="${2:?--graph-endpoint needs a value}"; shift 2 ;;
      --dry-run) dry_run=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; fail "unknown argument: $1" ;;
    esac
  done
}

# A value from the azd environment: hooks get it as an environment variable; otherwise ask azd.
azd_value() {
  local name="$1"
  if [[ -n "${!name:-}" ]]; then
    printf '%s' "${!name}"
  elif command -v azd >/dev/null 2>&1; then
    azd env get-value "$name" 2>/dev/null || true
  fi
}

resolve_from_azd() {
  principal_id="$(azd_value APP_IDENTITY_PRINCIPAL_ID)"
  [[ -n "$principal_id" ]] || fail "APP_IDENTITY_PRINCIPAL_ID is not in the azd environment: run 'azd provision' first"
  local azd_site
  azd_site="$(azd_value SHAREPOINT_SITE_URL)"
  if [[ -n "$azd_site" ]]; then
    sharepoint=true
    site_url="$azd_site"
  fi
  [[ "$(azd_value SPONSORS_ENABLED)" == true ]] && sponsors=true
  local azd_offboarding
  azd_offboarding="$(azd_value OFFBOARDING_ACTION)"
  [[ -n "$azd_offboarding" ]] && offboarding="$azd_offboarding"
  return 0
}

# az rest against Graph; --resource names the token audience so national clouds work too.
graph_call() {
  local method="$1" url="$2"
  shift 2
  az rest --only-show-errors --method "$method" --url "$url" --resource "$graph" "$@"
}

role_name() {
  case "$1" in
    "$USER_INVITE_ALL") printf 'User.Invite.All' ;;
    "$GROUP_MEMBER_READWRITE_ALL") printf 'GroupMember.ReadWrite.All' ;;
    "$USER_READ_ALL") printf 'User.Read.All' ;;
    "$SITES_SELECTED") printf 'Sites.Selected' ;;
    "$SITES_READWRITE_ALL") printf 'Sites.ReadWrite.All' ;;
    "$USER_READWRITE_ALL") printf 'User.ReadWrite.All' ;;
    "$USER_ENABLE_DISABLE_ACCOUNT_ALL") printf 'User.EnableDisableAccount.All' ;;
    "$USER_DELETE_RESTORE_ALL") printf 'User.DeleteRestore.All' ;;
    *) printf '%s' "$1" ;;
  esac
}

wanted_roles() {
  printf '%s\n' "$USER_INVITE_ALL" "$GROUP_MEMBER_READWRITE_ALL" "$USER_READ_ALL"
  if [[ "$sharepoint" == true && "$sites_readwrite_all" == true ]]; then
    printf '%s\n' "$SITES_READWRITE_ALL"
  elif [[ "$sharepoint" == true ]]; then
    printf '%s\n' "$SITES_SELECTED"
  fi
  [[ "$sponsors" == true ]] && printf '%s\n' "$USER_READWRITE_ALL"
  case "$offboarding" in
    disable) printf '%s\n' "$USER_ENABLE_DISABLE_ACCOUNT_ALL" ;;
    delete) printf '%s\n' "$USER_DELETE_RESTORE_ALL" ;;
  esac
  return 0
}

explain_denied() {
  cat >&2 <<EOF
Granting failed. The signed-in account cannot assign Microsoft Graph application permissions.
Ask a Privileged Role Administrator (or Global Administrator) to run:
  scripts/grant-graph-permissions.sh --principal-id $principal_id$([[ "$sharepoint" == true ]] && printf ' --sharepoint')
Until then the app answers 502 naming the missing permission, and 'python cli.py doctor' lists it.
EOF
}

# The app role ids already assigned to the principal on one resource service principal.
assigned_roles() {
  graph_call GET "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments" \
    --query "value[?resourceId=='$1'].appRoleId" --output tsv
}

# Assign one app role of a resource service principal, unless already assigned
# (Graph docs serviceprincipal-post-approleassignedto).
grant_role() {
  local resource_sp="$1" role="$2" name="$3" assigned="$4" body
  if grep -qx "$role" <<<"$assigned"; then
    log "already granted: $name ($role)"
  elif [[ "$dry_run" == true ]]; then
    log "would grant:     $name ($role)"
  else
    body="{\"principalId\":\"$principal_id\",\"resourceId\":\"$resource_sp\",\"appRoleId\":\"$role\"}"
    if ! graph_call POST "$graph/v1.0/servicePrincipals/$resource_sp/appRoleAssignedTo" \
      --headers "Content-Type=application/json" --body "$body" --output none; then
      explain_denied
      return 1
    fi
    log "granted:         $name ($role)"
  fi
}

grant_app_roles() {
  local graph_sp="$1" assigned role
  assigned="$(assigned_roles "$graph_sp")"
  while read -r role; do
    grant_role "$graph_sp" "$role" "$(role_name "$role")" "$assigned" || return 1
  done < <(wanted_roles)
}

# SharePoint's own app role for SharePoint REST (the subscription): Sites.Selected, which the site grant below
# turns into edit rights on the one site; the fallback: Sites.Manage.All ("Read and write items and lists in all
# site collections", the permission create-subscription.md names). Resolved by value from the service principal's
# appRoles (application roles only), so no id is guessed; before anything is granted, so a tenant without it
# changes nothing. Sets spo_sp, spo_role, spo_value.
resolve_sharepoint_role() {
  local found
  spo_value="Sites.Selected"
  [[ "$sites_readwrite_all" == true ]] && spo_value="Sites.Manage.All"
  found="$(graph_call GET "$graph/v1.0/servicePrincipals?\$filter=appId eq '$SHAREPOINT_APP_ID'&\$select=id,appRoles" \
    --query "value[0].[id, appRoles[?value=='$spo_value' && contains(allowedMemberTypes, 'Application')].id | [0]]" \
    --output tsv | tr '\n' '\t')"
  IFS=$'\t' read -r spo_sp spo_role _ <<<"$found"
  [[ -n "$spo_sp" ]] || fail "Office 365 SharePoint Online's service principal ($SHAREPOINT_APP_ID) is not in this tenant"
  [[ -n "$spo_role" ]] || fail "Office 365 SharePoint Online has no application role $spo_value"
}

# Graph addresses a site by hostname and server-relative path: /sites/{host}:/{path} (Graph docs site-getbypath).
site_path() {
  local url="${1%/}" rest host path
  rest="${url#https://}"
  host="${rest%%/*}"
  path="${rest#"$host"}"
  if [[ -z "$path" ]]; then
    printf '/sites/%s' "$host"
  else
    printf '/sites/%s:%s' "$host" "$path"
  fi
}

# Sites.Selected grants nothing by itself: the identity also needs a role on each site
# (POST /sites/{id}/permissions, Graph docs site-post-permissions; caller: SharePoint Administrator).
grant_site() {
  local app_id="$1" app_name="$2" site_id granted body
  [[ "$site_url" == https://* ]] || fail "--site-url must be an https URL: $site_url"
  site_id="$(graph_call GET "$graph/v1.0$(site_path "$site_url")" --query id --output tsv)"
  granted="$(graph_call GET "$graph/v1.0/sites/$site_id/permissions" \
    --query "value[?grantedToIdentitiesV2[?application.id=='$app_id'] || grantedToIdentities[?application.id=='$app_id']].roles[]" \
    --output tsv)"
  if grep -qxE 'write|owner|fullcontrol' <<<"$granted"; then
    log "already granted: site write on $site_url"
  elif [[ "$dry_run" == true ]]; then
    log "would grant:     site write on $site_url"
  else
    body="{\"roles\":[\"write\"],\"grantedToIdentities\":[{\"application\":{\"id\":\"$app_id\",\"displayName\":\"$app_name\"}}]}"
    if ! graph_call POST "$graph/v1.0/sites/$site_id/permissions" \
      --headers "Content-Type=application/json" --body "$body" --output none; then
      printf 'Site grant failed: it needs a SharePoint Administrator, e.g. in PowerShell:\n' >&2
      printf '  scripts/grant-graph-permissions.ps1 -PrincipalId %s -SharePoint -SiteUrl %s\n' "$principal_id" "$site_url" >&2
      return 1
    fi
    log "granted:         site write on $site_url"
  fi
}

main() {
  parse_args "$@"
  [[ "$from_azd" == true ]] && resolve_from_azd
  [[ -n "$principal_id" ]] || { usage >&2; fail "give --principal-id or --from-azd"; }
  [[ -z "$site_url" || "$sharepoint" == true ]] || fail "--site-url goes with --sharepoint"
  case "$offboarding" in
    none | disable | delete) ;;
    *) fail "--offboarding is none, disable or delete (OFFBOARDING_ACTION), not '$offboarding'" ;;
  esac
  graph="${graph%/}"
  command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is not installed"

  local principal app_id app_name graph_sp
  principal="$(graph_call GET "$graph/v1.0/servicePrincipals/$principal_id?\$select=appId,displayName" \
    --query "[appId, displayName]" --output tsv | tr '\n' '\t')" || fail "no service principal with object id $principal_id"
  IFS=$'\t' read -r app_id app_name _ <<<"$principal"
  graph_sp="$(graph_call GET "$graph/v1.0/servicePrincipals?\$filter=appId eq '$GRAPH_APP_ID'&\$select=id" \
    --query "value[0].id" --output tsv)"
  [[ -n "$graph_sp" ]] || fail "Microsoft Graph's service principal was not found in this tenant"
  local spo_sp="" spo_role="" spo_value=""
  [[ "$sharepoint" == true ]] && resolve_sharepoint_role

  log "Microsoft Graph permissions for $app_name (object id $principal_id, app id $app_id)"
  grant_app_roles "$graph_sp"
  if [[ "$sharepoint" == true ]]; then
    grant_role "$spo_sp" "$spo_role" "SharePoint $spo_value" "$(assigned_roles "$spo_sp")"
  fi
  if [[ -n "$site_url" && "$sites_readwrite_all" != true ]]; then
    grant_site "$app_id" "$app_name"
  elif [[ "$sharepoint" == true && "$sites_readwrite_all" != true ]]; then
    log "note: Sites.Selected needs a site grant too: rerun with --site-url <site URL>"
  fi
  log "Check with: python cli.py doctor   (or GET /api/health)"
}

main "$@"
