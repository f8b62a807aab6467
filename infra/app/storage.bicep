// The storage account: the Functions host (AzureWebJobsStorage), the app's queues and table, the deployment package.
// Shared-key access is off: every caller (host, bindings, the app's own SDK clients) authenticates with Entra ID,
// which is why rbac.bicep grants data roles and the app settings use AzureWebJobsStorage__* service URIs.
param name string
param location string
param tags object
param deploymentContainerName string
param queueNames array
param tableNames array
@description('The app\'s integration subnet: when set, only it (and allowedIpRanges) reach storage.')
param allowedSubnetId string = ''
param allowedIpRanges array = []

var restricted = !empty(allowedSubnetId)

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Public endpoint kept (no private endpoints here), but with appSubnetId set only that subnet and the listed IPs
    // pass the firewall (learn.microsoft.com/azure/storage/common/storage-network-security).
    publicNetworkAccess: 'Enabled'
    dnsEndpointType: 'Standard'
    networkAcls: {
      defaultAction: restricted ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
      virtualNetworkRules: restricted ? [
        {
          id: allowedSubnetId
          action: 'Allow'
        }
      ] : []
      ipRules: [for range in (restricted ? allowedIpRanges : []): {
        value: trim(range)
        action: 'Allow'
      }]
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-09-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-09-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output name string = storage.name
output id string = storage.id
