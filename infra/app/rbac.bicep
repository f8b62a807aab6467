// Azure RBAC for the app's managed identity: the data roles the Functions host, the queue triggers/outputs and the
// app's table need on the storage account, and the role that lets it send telemetry to Application Insights with
// Entra ID auth. Built-in role definition ids, from learn.microsoft.com/azure/role-based-access-control/built-in-roles
// (storage#storage-blob-data-owner, storage#storage-queue-data-contributor, storage#storage-table-data-contributor,
// monitor#monitoring-metrics-publisher). Graph permissions are not Azure RBAC: see scripts/grant-graph-permissions.*.
param storageAccountName string
param applicationInsightsName string
param appPrincipalId string
@description('Object id of the person (or service principal) running azd: it gets what reading and re-driving poison queues needs; empty = nobody.')
param principalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'
@description('The queues the principal may read and re-drive: each poison queue and the queue its messages go back to.')
param poisonQueueNames array = []

// Storage Blob Data Owner: the host's own blobs (leases, keys) and the Flex deployment package need it
// (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: queue triggers read/delete, queue outputs and poison handling write.
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the SharePoint worker's state table (sharepointstate), the invitations' status
// records with the status-link key (invitationstatus) and the claim per address (inviteclaims).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: ingestion into an Application Insights resource with local auth disabled.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var storageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-09-01' existing = {
  parent: storage
  name: 'default'
}

resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-09-01' existing = [
  for queueName in poisonQueueNames: {
    parent: queueService
    name: queueName
  }
]

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

// The person running azd (AZURE_PRINCIPAL_ID): `python cli.py poison list/requeue` peeks, receives and deletes on a
// poison queue and sends to the queue it came from, which is Storage Queue Data Contributor on those queues and
// nothing else: no blob role (the deployment package and the host's keys stay out of reach), no table, no account.
resource principalPoisonQueueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in (empty(principalId) ? [] : poisonQueueNames): {
    name: guid(poisonQueues[i].id, principalId, storageQueueDataContributor)
    scope: poisonQueues[i]
    properties: {
      principalId: principalId
      principalType: principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    }
  }
]
