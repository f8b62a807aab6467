// The function app on a Flex Consumption (FC1) Linux plan, its identity, and every app setting it reads.
// Flex Consumption takes the runtime from functionAppConfig.runtime, not from FUNCTIONS_WORKER_RUNTIME /
// FUNCTIONS_EXTENSION_VERSION app settings, which it does not allow
// (learn.microsoft.com/azure/azure-functions/flex-consumption-plan#deprecated-properties-and-settings).
param name string
param planName string
param identityName string
@allowed(['UserAssigned', 'SystemAssigned'])
param identityType string
param location string
param tags object
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param maximumInstanceCount int
param instanceMemoryMB int
@description('Virtual network integration subnet (delegated to Microsoft.App/environments); empty = none.')
param subnetId string = ''

param allowedGroupIds string
param allowedEmailDomains string
param blockedEmailDomains string
param allowMemberUsers string
param allowedRedirectHosts string
param inviteRedirectUrl string
param authorityHost string
param graphEndpoint string
param logPii string
param sharepointSiteUrl string
param sharepointListId string
@secure()
param sharepointClientState string
param sharepointNotificationUrl string
param defaultAccessDays string
param maxAccessDays string
param expiryReminderDays string
param sponsorsEnabled string
param offboardingAction string
param offboardingGraceDays string

var userAssigned = identityType == 'UserAssigned'

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = if (userAssigned) {
  name: identityName
  location: location
  tags: tags
}

resource plan 'Microsoft.Web/serverfarms@2025-05-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// ---- app settings (tests/deploy/test_app_settings.py compares these names with shared.settings) ----

// The Functions host and its bindings reach storage with the identity: service URIs + credential, no connection
// string (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    // Entra ID auth for telemetry (learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: userAssigned ? 'ClientId=${appIdentity.properties.clientId};Authorization=AAD' : 'Authorization=AAD'
  }
  {
    // host.json telemetryMode OpenTelemetry: the worker takes the host's trace context and tells the host that the
    // app exports its own records (shared/telemetry.py; learn.microsoft.com/azure/azure-functions/opentelemetry-howto).
    name: 'PYTHON_ENABLE_OPENTELEMETRY'
    value: 'true'
  }
]

// A user-assigned identity must be named by client id, both to the host and to the app's own credential
// (azure-identity ManagedIdentityCredential(client_id=...)); with system-assigned both settings must be absent.
var userAssignedIdentitySettings = userAssigned ? [
  {
    name: 'AzureWebJobsStorage__clientId'
    value: appIdentity.properties.clientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: appIdentity.properties.clientId
  }
] : []

// The settings contract (docs/architecture.md, issue 3). Secret/certificate-mode settings are deliberately absent:
// this deployment authenticates to Graph with the managed identity and never carries a secret.
var contractSettings = [
  {
    name: 'AZURE_AUTHORITY_HOST'
    value: authorityHost
  }
  {
    name: 'GRAPH_ENDPOINT'
    value: graphEndpoint
  }
  {
    name: 'INVITE_REDIRECT_URL'
    value: inviteRedirectUrl
  }
  {
    name: 'ALLOWED_GROUP_IDS'
    value: allowedGroupIds
  }
  {
    name: 'ALLOWED_EMAIL_DOMAINS'
    value: allowedEmailDomains
  }
  {
    name: 'BLOCKED_EMAIL_DOMAINS'
    value: blockedEmailDomains
  }
  {
    name: 'ALLOW_MEMBER_USERS'
    value: allowMemberUsers
  }
  {
    name: 'ALLOWED_REDIRECT_HOSTS'
    value: allowedRedirectHosts
  }
  {
    name: 'LOG_PII'
    value: logPii
  }
  {
    // How long a claim on an address holds off other invitations of it (shared/claims.py, docs/api.md): longer
    // than the longest invitation flow (bulk's 120 s budget plus one request's timeouts).
    name: 'INVITE_CLAIM_SECONDS'
    value: '180'
  }
  {
    name: 'SHAREPOINT_SITE_URL'
    value: sharepointSiteUrl
  }
  {
    name: 'SHAREPOINT_LIST_ID'
    value: sharepointListId
  }
  {
    name: 'SHAREPOINT_CLIENT_STATE'
    value: sharepointClientState
  }
  {
    name: 'SHAREPOINT_NOTIFICATION_URL'
    value: sharepointNotificationUrl
  }
  {
    name: 'DEFAULT_ACCESS_DAYS'
    value: defaultAccessDays
  }
  {
    name: 'MAX_ACCESS_DAYS'
    value: maxAccessDays
  }
  {
    name: 'EXPIRY_REMINDER_DAYS'
    value: expiryReminderDays
  }
  {
    name: 'SPONSORS_ENABLED'
    value: sponsorsEnabled
  }
  {
    name: 'OFFBOARDING_ACTION'
    value: offboardingAction
  }
  {
    name: 'OFFBOARDING_GRACE_DAYS'
    value: offboardingGraceDays
  }
]

resource functionApp 'Microsoft.Web/sites@2025-05-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: userAssigned ? {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentity.id}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(hostSettings, userAssignedIdentitySettings, contractSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: userAssigned ? {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentity.id
          } : {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.13'  // the Python the tests run on; requirements.txt pins the worker (azure-functions-runtime)
      }
    }
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
// The object (principal) id Graph app roles and Azure roles are granted to.
output principalId string = userAssigned ? appIdentity.properties.principalId : functionApp.identity.principalId
// Client id of the user-assigned identity; empty for system-assigned (the grant script looks its appId up in Graph).
output clientId string = userAssigned ? appIdentity.properties.clientId : ''

// No basic-auth (user name and password) publishing: FTP and the SCM site accept only Entra ID, which is what
// azd and `func azure functionapp publish` use (learn.microsoft.com/azure/app-service/configure-basic-auth-disable).
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-05-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-05-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}
