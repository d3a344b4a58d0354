import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing

@testable import LitestreamOSS

/// ListObjectsV2, DeleteMultipleObjects and error bodies as OSS sends them: the bodies of alibabacloud-oss-go-sdk-v2's
/// own mock tests (`oss/client_mock_test.go`, 1.5.1: `testMockListObjectsV2SuccessCases`,
/// `testMockListObjectsV2ErrorCases`, the DeleteMultipleObjects cases), and that list shape with Litestream's keys.
@Suite struct OSSXMLTests {
    static let sdkList = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult>
          <Name>examplebucket</Name>
          <Prefix></Prefix>
          <MaxKeys>3</MaxKeys>
          <Delimiter></Delimiter>
          <IsTruncated>false</IsTruncated>
          <Contents>
                <Key>exampleobject1.txt</Key>
                <LastModified>2020-06-22T11:42:32.000Z</LastModified>
                <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE1****"</ETag>
                <Type>Normal</Type>
                <Size>344606</Size>
                <StorageClass>ColdArchive</StorageClass>
                <Owner>
                    <ID>0022012****</ID>
                    <DisplayName>user-example</DisplayName>
                </Owner>
          </Contents>
          <Contents>
                <Key>exampleobject2.txt</Key>
                <LastModified>2020-06-22T11:42:32.000Z</LastModified>
                <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE1****"</ETag>
                <Type>Normal</Type>
                <Size>344606</Size>
                <StorageClass>Standard</StorageClass>
                <RestoreInfo>ongoing-request="true"</RestoreInfo>
                <Owner>
                    <ID>0022012****</ID>
                    <DisplayName>user-example</DisplayName>
                </Owner>
          </Contents>
        </ListBucketResult>
        """

    @Test func sdkListBody() throws {
        let page = try OSSXML.parseList(Data(Self.sdkList.utf8))
        #expect(page.objects.map(\.key) == ["exampleobject1.txt", "exampleobject2.txt"])
        #expect(page.objects.map(\.size) == [344606, 344606])
        #expect(page.objects[0].lastModified == 1_592_826_152_000)  // 2020-06-22T11:42:32Z
        #expect(page.nextContinuationToken == nil)
    }

    /// That shape, truncated, URL-encoded (as the Go SDK asks, `encoding-type=url`), with Litestream's keys.
    @Test func urlEncodedTruncatedPage() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult>
              <Name>examplebucket</Name>
              <Prefix>db%2F0000%2F</Prefix>
              <MaxKeys>2</MaxKeys>
              <EncodingType>url</EncodingType>
              <IsTruncated>true</IsTruncated>
              <NextContinuationToken>ChJkYi8wMDAwL2EgYitjLmx0eBAA</NextContinuationToken>
              <KeyCount>2</KeyCount>
              <Contents>
                    <Key>db%2F0000%2F0000000000000001-0000000000000001.ltx</Key>
                    <LastModified>2026-01-15T09:30:01.000Z</LastModified>
                    <Size>4096</Size>
              </Contents>
              <Contents>
                    <Key>db%2F0000%2Fa%20b%2Bc%C3%A9.ltx</Key>
                    <LastModified>2026-01-15T09:30:02.000Z</LastModified>
                    <Size>12</Size>
              </Contents>
            </ListBucketResult>
            """
        let page = try OSSXML.parseList(Data(xml.utf8))
        #expect(page.objects.map(\.key) == ["db/0000/0000000000000001-0000000000000001.ltx", "db/0000/a b+cé.ltx"])
        #expect(page.nextContinuationToken == "ChJkYi8wMDAwL2EgYitjLmx0eBAA")
        #expect(page.objects[0].lastModified == 1_768_469_401_000)
        // Truncated without a token: a malformed answer, not an endless loop.
        let broken = xml.replacingOccurrences(of: "<NextContinuationToken>ChJkYi8wMDAwL2EgYitjLmx0eBAA</NextContinuationToken>", with: "")
        #expect(throws: OSSXML.Malformed.self) { try OSSXML.parseList(Data(broken.utf8)) }
    }

    @Test func sdkDeleteResult() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DeleteResult>
              <EncodingType>url</EncodingType>
              <Deleted>
                <Key>key1.txt</Key>
                <DeleteMarker>true</DeleteMarker>
                <DeleteMarkerVersionId>CAEQHxiBgMCEld7a3hgiIDYyMmZlNWVhMDU5NDQ3ZTFhODI1ZjZhMTFlMGQz****</DeleteMarkerVersionId>
              </Deleted>
              <Deleted>
                <Key>key2.txt</Key>
                <DeleteMarker>true</DeleteMarker>
                <DeleteMarkerVersionId>CAEQHxiBgICJld7a3hgiIDJmZGE0OTU5MjMzZDQxNjlhY2NjMmI3YWRkYWI4****</DeleteMarkerVersionId>
              </Deleted>
            </DeleteResult>
            """
        #expect(try OSSXML.parseDeleted(Data(xml.utf8)) == ["key1.txt", "key2.txt"])
    }

    @Test func sdkErrorBody() {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error>
              <Code>NoSuchBucket</Code>
              <Message>The specified bucket does not exist.</Message>
              <RequestId>5C3D9175B6FC201293AD****</RequestId>
              <HostId>test.oss-cn-hangzhou.aliyuncs.com</HostId>
              <BucketName>test</BucketName>
              <EC>0015-00000101</EC>
            </Error>
            """
        let e = OSSXML.parseError(Data(xml.utf8))
        #expect(e?.code == "NoSuchBucket" && e?.message == "The specified bucket does not exist.")
    }

    @Test func requestBodies() {
        let delete = String(decoding: OSSXML.deleteBody(keys: ["db/0000/a&b.ltx"]), as: UTF8.self)
        #expect(delete == #"<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet><Object><Key>db/0000/a&amp;b.ltx</Key></Object></Delete>"#)
        let complete = String(decoding: OSSXML.completeBody(etags: [(2, "\"b\""), (1, "\"a\"")]), as: UTF8.self)
        #expect(complete.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part><Part><PartNumber>2</PartNumber>"))
    }
}
