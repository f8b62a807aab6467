// Operators are told: three log alert rules and three saved queries on the Log Analytics workspace behind the
// app's (workspace-based) Application Insights, where its telemetry lands as AppTraces / AppDependencies
// (shared/telemetry.py). The queries live in queries/*.kql, read here and shown in docs/doctor.md.
param logAnalyticsName string
param location string
param tags object

@description('Where alerts are mailed; empty = no action group (alerts still show in Azure Monitor > Alerts).')
param alertEmailAddress string = ''

@description('Graph 429 answers in 5 minutes above which the throttling alert fires.')
param throttledCallsThreshold int = 20

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' existing = {
  name: logAnalyticsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmailAddress)) {
  name: 'ag-${logAnalyticsName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'guestonboard'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

// Each rule runs its query every 5 minutes over the last 5 minutes and fires once per run that finds more rows
// than its threshold: one poison message, one 503, a burst of 429s. autoMitigate off: each firing is its own alert.
var alertRules = [
  {
    name: 'poison'
    displayName: 'Guest onboarding: a message went to a poison queue'
    description: 'A membership or queued invitation failed for good. Run the failures-by-reason query; then python cli.py poison list <queue>.'
    severity: 2
    threshold: 0
    query: loadTextContent('queries/alert-poison.kql')
  }
  {
    name: 'health'
    displayName: 'Guest onboarding: /api/health answered 503'
    description: 'Something the app needs is missing (a Graph permission, a queue, a setting). The health report names it and its fix.'
    severity: 1
    threshold: 0
    query: loadTextContent('queries/alert-health.kql')
  }
  {
    name: 'throttling'
    displayName: 'Guest onboarding: Microsoft Graph is throttling the app'
    description: 'A burst of 429 answers from Graph. The app waits as Graph asks; sustained bursts mean too much load for the tenant limits.'
    severity: 3
    threshold: throttledCallsThreshold
    query: loadTextContent('queries/alert-throttling.kql')
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in alertRules: {
  name: 'alert-${rule.name}-${logAnalyticsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      logAnalytics.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: empty(alertEmailAddress) ? [] : [
        actionGroup.id
      ]
    }
  }
}]

// Saved queries: Log Analytics workspace > Logs > Queries > "Guest onboarding".
var savedQueries = [
  {
    name: 'guest-onboarding-invitations-per-day'
    displayName: 'Invitations per day'
    query: loadTextContent('queries/invitations-per-day.kql')
  }
  {
    name: 'guest-onboarding-membership-latency'
    displayName: 'Membership latency p50/p95, request to added'
    query: loadTextContent('queries/membership-latency.kql')
  }
  {
    name: 'guest-onboarding-failures-by-reason'
    displayName: 'Failures by reason'
    query: loadTextContent('queries/failures-by-reason.kql')
  }
]

resource queries 'Microsoft.OperationalInsights/workspaces/savedSearches@2025-07-01' = [for saved in savedQueries: {
  parent: logAnalytics
  name: saved.name
  properties: {
    category: 'Guest onboarding'
    displayName: saved.displayName
    query: saved.query
    version: 2
  }
}]

output alertRuleNames array = [for (rule, index) in alertRules: alerts[index].name]
