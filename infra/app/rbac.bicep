// Azure RBAC for the app's managed identity: the data roles the Functions host, the queue triggers/outputs and the
// app's table need on the storage account, and the role that lets it send telemetry to Application Insights with
// Entra ID auth. Built-in role definition ids, from learn.microsoft.com/azure/role-based-access-control/built-in-roles
// (storage#storage-blob-data-owner, storage#storage-queue-data-contributor, storage#storage-table-data-contributor,
// monitor#monitoring-metrics-publisher). Graph permissions are not Azure RBAC: see scripts/grant-graph-permissions.*.
param storageAccountName string
param applicationInsightsName string
param appPrincipalId string
param developerPrincipalId string = ''

// Storage Blob Data Owner: the host's own blobs (leases, keys) and the Flex deployment package need it
// (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: queue triggers read/delete, queue outputs and poison handling write.
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the SharePoint worker's state table (sharepointstate).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: ingestion into an Application Insights resource with local auth disabled.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var storageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: {
    name: guid(storage.id, appPrincipalId, roleId)
    scope: storage
    properties: {
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

// Optional: the same storage data roles for one developer, so `python cli.py poison` can read the Azure queues.
resource developerStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(developerPrincipalId) ? [] : storageRoles): {
    name: guid(storage.id, developerPrincipalId, roleId)
    scope: storage
    properties: {
      principalId: developerPrincipalId
      principalType: 'User'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]
