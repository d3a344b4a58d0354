extension VerificationService {
    /// The last result of each database, as the dashboard lists them (by path). Pass
    /// `{ service.dashboardRecords }` as a dashboard route's `verifications`.
    public var dashboardRecords: [VerificationRecord] {
        lastResults
            .map { VerificationRecord(path: $0.key, result: $0.value.result, finishedAt: $0.value.finishedAt) }
            .sorted { $0.path < $1.path }
    }
}
