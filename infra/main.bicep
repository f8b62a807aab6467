// Guest onboarding function app: everything `azd up` provisions.
// Shape follows Azure-Samples/functions-quickstart-python-http-azd: Flex Consumption (FC1) on Linux, Python 3.13,
// a user-assigned managed identity, storage without shared keys, Application Insights with Entra ID auth.
// Plain resources (no registry modules), so the whole template can be read here and checked offline.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource; must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create; empty = rg-<environmentName>.')
param resourceGroupName string = ''

@allowed(['UserAssigned', 'SystemAssigned'])
@description('Identity the app uses for storage, telemetry and Microsoft Graph. UserAssigned survives re-creating the app.')
param identityType string = 'UserAssigned'

// ---- the settings contract (docs/architecture.md, issue 3); each becomes the app setting of the same meaning ----

@minLength(1)
@description('ALLOWED_GROUP_IDS: comma-separated group object ids callers may add guests to, or *. Required: no default.')
param allowedGroupIds string

@description('ALLOWED_EMAIL_DOMAINS: optional comma-separated allow-list (*.example.com covers subdomains).')
param allowedEmailDomains string = ''

@description('BLOCKED_EMAIL_DOMAINS: optional comma-separated deny-list.')
param blockedEmailDomains string = ''

@allowed(['false', 'true'])
@description('ALLOW_MEMBER_USERS: group-memberships may add internal members too, not only guests. Default false.')
param allowMemberUsers string = 'false'

@description('ALLOWED_REDIRECT_HOSTS: hosts a request redirectUrl may name (*.example.com for subdomains); empty = INVITE_REDIRECT_URL host and myapps.microsoft.com.')
param allowedRedirectHosts string = ''

@description('INVITE_REDIRECT_URL: where a guest lands after redeeming an invitation.')
param inviteRedirectUrl string = 'https://myapplications.microsoft.com'

@description('AZURE_AUTHORITY_HOST: Entra ID login host (national clouds: https://login.microsoftonline.us, ...).')
param authorityHost string = 'https://login.microsoftonline.com'

@description('GRAPH_ENDPOINT: Microsoft Graph host without /v1.0 (national clouds: https://graph.microsoft.us, ...).')
param graphEndpoint string = 'https://graph.microsoft.com'

@allowed(['false', 'true'])
@description('LOG_PII: log email addresses unmasked. Keep false in production.')
param logPii string = 'false'

@description('SHAREPOINT_SITE_URL: site whose list drives onboarding; empty = SharePoint intake off.')
param sharepointSiteUrl string = ''

@description('SHAREPOINT_LIST_ID: id of that list; empty = SharePoint intake off.')
param sharepointListId string = ''

@secure()
@description('SHAREPOINT_CLIENT_STATE: shared secret echoed in webhook notifications; empty = SharePoint intake off.')
param sharepointClientState string = ''

@description('SHAREPOINT_NOTIFICATION_URL: public webhook URL (it carries a function key, so it is set after deploy).')
param sharepointNotificationUrl string = ''

// ---- guest lifecycle (docs/lifecycle.md) ----

@description('DEFAULT_ACCESS_DAYS: days of group access when a request names none; empty = no expiry (as before).')
param defaultAccessDays string = ''

@description('MAX_ACCESS_DAYS: the longest access a request may ask for; empty = no limit.')
param maxAccessDays string = ''

@description('EXPIRY_REMINDER_DAYS: days before the end to put a reminder on guest-expiring; empty or 0 = none.')
param expiryReminderDays string = ''

@allowed(['false', 'true'])
@description('SPONSORS_ENABLED: set requested sponsors on guests (needs User.ReadWrite.All: grant script --sponsors).')
param sponsorsEnabled string = 'false'

@allowed(['none', 'disable', 'delete'])
@description('OFFBOARDING_ACTION: none, disable (block sign-in) or delete a guest the app invited once no grant is left.')
param offboardingAction string = 'none'

@description('OFFBOARDING_GRACE_DAYS: days after the last grant ends before the offboarding action.')
param offboardingGraceDays string = ''

// ---- sizing and optional developer access ----

@description('Flex Consumption scale-out ceiling for the app.')
param maximumInstanceCount int = 100

@allowed([512, 2048, 4096])
@description('Flex Consumption instance memory size in MB.')
param instanceMemoryMB int = 2048

// azd sets AZURE_PRINCIPAL_ID / AZURE_PRINCIPAL_TYPE to whoever runs it (main.parameters.json).
@description('Object id of the person running azd: gets read and re-drive rights on the poison queues only; empty = nobody.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('What principalId is (azd: User, or ServicePrincipal when signed in as one).')
param principalType string = 'User'

// ---- network ----

@description('Subnet id for the app\'s virtual network integration (delegated to Microsoft.App/environments). When set, storage refuses every network but this subnet and storageAllowedIpRanges; empty = storage reachable from any network (still Entra ID only).')
param appSubnetId string = ''

@description('Comma-separated public IPs or CIDR ranges also let through to storage when appSubnetId is set (e.g. where you run cli.py poison); empty = none.')
param storageAllowedIpRanges string = ''

@description('Email address the alert rules notify (poison message, health 503, Graph throttling); empty = none.')
param alertEmailAddress string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-${resourceToken}'
// Flex Consumption pulls the app package from this blob container (functionAppConfig.deployment.storage).
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

// The queues and table the app uses (docs/architecture.md "Queues"): names are a contract, created up front.
var queueNames = [
  'group-memberships'
  'group-memberships-poison'
  'guest-invitations'
  'guest-invitations-poison'
  'sharepoint-notifications'
  'sharepoint-notifications-poison'
  'guest-expiring'
]
// What `cli.py poison` touches: each poison queue and the queue its messages are re-driven to.
var poisonQueueNames = [
  'group-memberships'
  'group-memberships-poison'
  'guest-invitations'
  'guest-invitations-poison'
  'sharepoint-notifications'
  'sharepoint-notifications-poison'
]
var tableNames = [
  'sharepointstate'
  'guestgrants'
  'invitationstatus'
  'inviteclaims'
]

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueNames: queueNames
    tableNames: tableNames
    allowedSubnetId: appSubnetId
    allowedIpRanges: empty(storageAllowedIpRanges) ? [] : split(storageAllowedIpRanges, ',')
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    alertEmailAddress: alertEmailAddress
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    identityName: 'id-${resourceToken}'
    identityType: identityType
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    subnetId: appSubnetId
    allowedGroupIds: allowedGroupIds
    allowedEmailDomains: allowedEmailDomains
    blockedEmailDomains: blockedEmailDomains
    allowMemberUsers: allowMemberUsers
    allowedRedirectHosts: allowedRedirectHosts
    inviteRedirectUrl: inviteRedirectUrl
    authorityHost: authorityHost
    graphEndpoint: graphEndpoint
    logPii: logPii
    sharepointSiteUrl: sharepointSiteUrl
    sharepointListId: sharepointListId
    sharepointClientState: sharepointClientState
    sharepointNotificationUrl: sharepointNotificationUrl
    defaultAccessDays: defaultAccessDays
    maxAccessDays: maxAccessDays
    expiryReminderDays: expiryReminderDays
    sponsorsEnabled: sponsorsEnabled
    offboardingAction: offboardingAction
    offboardingGraceDays: offboardingGraceDays
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: functionApp.outputs.principalId
    principalId: principalId
    principalType: principalType
    poisonQueueNames: poisonQueueNames
  }
}

// Outputs land in the azd environment (.azure/<env>/.env); the post-provision hook reads the principal id from there.
// Nothing secret here: no keys, no connection strings, no client state.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_BASE_URL string = '${functionApp.outputs.uri}/api'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APP_IDENTITY_TYPE string = identityType
output APP_IDENTITY_PRINCIPAL_ID string = functionApp.outputs.principalId
output APP_IDENTITY_CLIENT_ID string = functionApp.outputs.clientId
output SHAREPOINT_SITE_URL string = sharepointSiteUrl
