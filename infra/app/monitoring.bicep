// Log Analytics + workspace-based Application Insights with local (instrumentation-key) auth disabled:
// telemetry is accepted only with an Entra ID token, which the app gets from its managed identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING in function.bicep, Monitoring Metrics Publisher in rbac.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

@description('Where alerts are mailed; empty = no action group (alerts.bicep).')
param alertEmailAddress string = ''

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// Alert rules and saved queries on the workspace (alerts.bicep; docs/doctor.md shows each query).
module alerts 'alerts.bicep' = {
  name: 'alerts'
  params: {
    logAnalyticsName: logAnalytics.name
    location: location
    tags: tags
    alertEmailAddress: alertEmailAddress
  }
}

output applicationInsightsName string = applicationInsights.name
