import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing

@testable import LitestreamABS

/// List Blobs and error bodies of the shapes the service sends. The first body is the one azure-storage-blob's own
/// tests feed its deserializer (`tests/test_arrow.py`, `_full_blob_xml` in `_enumeration_results_xml`, 12.31.1);
/// the second is that shape with Litestream's names and metadata.
@Suite struct ABSXMLTests {
    static let sdkBody = """
        <?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://account.blob.core.windows.net/" \
        ContainerName="mycontainer"><Prefix></Prefix><MaxResults>10</MaxResults><Blobs><Blob><Name>blob1</Name><Properties>\
        <Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time><Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified>\
        <Etag>0x8DABCDEF1234567</Etag><Content-Length>1234</Content-Length><Content-Type>text/plain</Content-Type>\
        <Content-Encoding>gzip</Content-Encoding><Content-Language>en-US</Content-Language>\
        <Content-MD5>ASNFZ4mrze8BI0VniavN7w==</Content-MD5><Cache-Control>no-cache</Cache-Control>\
        <Content-Disposition>inline</Content-Disposition><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>\
        <AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
        <ServerEncrypted>true</ServerEncrypted><TagCount>1</TagCount></Properties><Metadata><color>blue</color>\
        <size>large</size></Metadata><Tags><TagSet><Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tags></Blob>\
        <Blob><Name>blob2</Name><Properties><Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified>\
        <Etag>0x8DABCDEF1234567</Etag><BlobType>BlockBlob</BlobType></Properties></Blob></Blobs>\
        <NextMarker>2!88!MDAwMDA1IWJsb2IzITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker></EnumerationResults>
        """

    @Test func sdkTestBody() throws {
        let page = try ABSXML.parseList(Data(Self.sdkBody.utf8))
        #expect(page.blobs.map(\.name) == ["blob1", "blob2"])
        #expect(page.blobs.map(\.size) == [1234, 0])
        #expect(page.blobs[0].creationTime == 1_704_067_200_000)  // Mon, 01 Jan 2024 00:00:00 GMT
        #expect(page.blobs[0].litestreamTimestamp == nil)
        #expect(page.nextMarker == "2!88!MDAwMDA1IWJsb2IzITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--")
        // The last page: an empty `<NextMarker/>`.
        let last = Self.sdkBody.replacingOccurrences(
            of: "<NextMarker>2!88!MDAwMDA1IWJsb2IzITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker>", with: "<NextMarker/>")
        #expect(try ABSXML.parseList(Data(last.utf8)).nextMarker == nil)
    }

    @Test func litestreamBlobs() throws {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" \
            ContainerName="replicas"><Prefix>db/ltx/0/</Prefix><Blobs>\
            <Blob><Name>db/ltx/0/0000000000000001-0000000000000001.ltx</Name><Properties>\
            <Creation-Time>Thu, 15 Jan 2026 09:30:01 GMT</Creation-Time><Content-Length>4096</Content-Length>\
            <BlobType>BlockBlob</BlobType></Properties><Metadata><litestreamtimestamp>2026-01-15T09:30:00.123Z</litestreamtimestamp>\
            </Metadata></Blob>\
            <Blob><Name>db/ltx/0/0000000000000002-0000000000000002.ltx</Name><Properties>\
            <Creation-Time>Thu, 15 Jan 2026 09:30:02 GMT</Creation-Time><Content-Length>198</Content-Length></Properties>\
            <Metadata /></Blob></Blobs><NextMarker /></EnumerationResults>
            """
        let page = try ABSXML.parseList(Data(xml.utf8))
        #expect(page.nextMarker == nil)
        #expect(page.blobs.map(\.size) == [4096, 198])
        #expect(page.blobs[0].litestreamTimestamp == 1_768_469_400_123)
        #expect(page.blobs[1].litestreamTimestamp == nil && page.blobs[1].creationTime == 1_768_469_402_000)
    }

    @Test func malformed() {
        #expect(throws: ABSXML.Malformed.self) { try ABSXML.parseList(Data("<Error><Code>x</Code></Error>".utf8)) }
        #expect(throws: ABSXML.Malformed.self) { try ABSXML.parseList(Data("<EnumerationResults><Blobs><Blob/></Blobs></EnumerationResults>".utf8)) }
    }

    /// The error body of the REST documentation's authentication failure.
    @Test func errorBody() {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to \
            authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.
            RequestId:bb5a5a21-001e-0001-6c41-7c5d0f000000
            Time:2026-01-15T09:30:00.0000000Z</Message><AuthenticationErrorDetail>The MAC signature found in the HTTP request \
            'abc' is not the same as any computed signature.</AuthenticationErrorDetail></Error>
            """
        let e = ABSXML.parseError(Data(xml.utf8))
        #expect(e?.code == "AuthenticationFailed")
        #expect(e?.message.hasPrefix("Server failed to authenticate the request.") == true)
    }

    @Test func blockList() {
        let body = String(decoding: ABSXML.blockList(["YQ==", "Yg=="]), as: UTF8.self)
        #expect(body == #"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>YQ==</Latest><Latest>Yg==</Latest></BlockList>"#)
    }
}
