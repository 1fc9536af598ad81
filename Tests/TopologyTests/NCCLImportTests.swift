import Foundation
import SchemaXML
import Testing

import Topology

/// NCCL topology import: real dumps, the variety real files show, and the generated file's reuse
/// as a host template. Facts are checked on the loaded `Cluster`, not on the XML text.
@Suite struct NCCLImportTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "xml", subdirectory: "Fixtures/nccl"),
            "fixture \(name).xml is missing from the test bundle")
        return url.path
    }

    static func load(_ name: String) throws -> NCCLImportResult {
        try NCCLImporter.importHost(path: fixture(name))
    }

    /// The diagnostics an import fails with; records an issue when it succeeds.
    static func failure(_ name: String) throws -> String {
        do {
            _ = try load(name)
            Issue.record("importing \(name).xml should fail")
            return ""
        } catch let error as XMLDiagnostics {
            return error.description
        }
    }

    static func devices(_ cluster: Cluster, _ kind: DeviceKind, role: String? = nil) -> [Int32] {
        cluster.devices.indices.filter { index in
            let device = cluster.devices[index]
            return device.kind == kind && (role == nil || cluster.groups[Int(device.group)].role == role)
        }.map(Int32.init)
    }

    /// Links whose ends are of these two kinds (in either order), optionally of one medium.
    static func links(_ cluster: Cluster, _ a: DeviceKind, _ b: DeviceKind, medium: String? = nil) -> [Link] {
        cluster.links.filter { link in
            let kinds = (cluster.devices[Int(link.a)].kind, cluster.devices[Int(link.b)].kind)
            return (kinds == (a, b) || kinds == (b, a)) && (medium == nil || link.medium == medium)
        }
    }

    static func approximately(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= expected * 1e-5 }

    /// PCIe Gen4 x16, 128b/130b: 16e9 × 16 × 128/130 / 8.
    static let gen4x16 = 16e9 * 16 * 128 / 130 / 8

    // MARK: Real dumps

    @Test func azureHintFileHasEightGPUsAndEightInfiniBandNICs() throws {
        let result = try Self.load("azure-ndv4-topo")
        let cluster = result.cluster
        #expect(cluster.accelerators.count == 8)
        #expect(Self.devices(cluster, .cpu).count == 4)
        #expect(Self.devices(cluster, .switch, role: "pcie").count == 4)
        let nics = Self.devices(cluster, .nic, role: "infiniband")
        #expect(nics.count == 8)
        #expect(Self.devices(cluster, .nic).count == 8)
        // Hint files carry no sm: the stand-in model, said so in a note.
        #expect(cluster.model(of: cluster.accelerators[0])?.id == "generic-gpu")
        #expect(result.notes.contains { $0.contains("GPU generation unknown") && $0.contains("0003:00:00.0") })
        // 4 NUMA nodes meshed: 6 CPU–CPU links.
        #expect(Self.links(cluster, .cpu, .cpu).count == 6)
        for link in Self.links(cluster, .accelerator, .switch) { #expect(Self.approximately(link.bandwidth, Self.gen4x16)) }
    }

    @Test func ncclTestsDumpHasEightSM86GPUsAndOneFiftySixGigabitNIC() throws {
        let result = try Self.load("nccl-tests-8gpu-topo")
        let cluster = result.cluster
        #expect(cluster.accelerators.count == 8)
        #expect(cluster.accelerators.allSatisfy { cluster.model(of: $0)?.id == "A40-48GB" })
        #expect(result.xml.contains("sm 86"))
        let nics = Self.devices(cluster, .nic)
        #expect(nics.count == 1)
        let nicGroup = cluster.groups[Int(cluster.devices[Int(nics[0])].group)]
        #expect(nicGroup.speed == 7e9)
        #expect(nicGroup.role == "infiniband")
        #expect(Self.devices(cluster, .cpu).count == 2)
        #expect(Self.devices(cluster, .switch, role: "pcie").count == 2)
        let pcie = cluster.links.filter { $0.medium == "pcie" }
        #expect(pcie.count == 2 + 8 + 1)
        #expect(pcie.allSatisfy { Self.approximately($0.bandwidth, Self.gen4x16) })
        #expect(abs(Self.gen4x16 - 31.5e9) < 0.01e9)
        #expect(Self.links(cluster, .cpu, .cpu).count == 1)
        #expect(!cluster.links.contains { $0.medium == "nvlink" })
    }

    @Test func generatedFileNamesItsSourceAndPassesTheLoaderFromDisk() throws {
        let path = try Self.fixture("nccl-tests-8gpu-topo")
        let result = try NCCLImporter.importHost(path: path, name: "a6000-box")
        #expect(result.name == "a6000-box")
        #expect(result.xml.contains("from the NCCL topology file \(path)"))
        #expect(result.xml.contains("<template id=\"a6000-box\">"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("host.xml")
        try result.xml.write(to: file, atomically: true, encoding: .utf8)
        #expect(try ClusterLoader.load(path: file.path).accelerators.count == 8)
    }

    @Test func defaultNameComesFromTheFileName() throws {
        #expect(try Self.load("nccl-tests-8gpu-topo").name == "nccl-tests-8gpu-topo")
    }

    // MARK: Reuse as a template

    @Test func importedHostIsReusableAsATemplateUnderAToR() throws {
        let result = try Self.load("nccl-tests-8gpu-topo")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try result.xml.write(to: directory.appendingPathComponent("host.xml"), atomically: true, encoding: .utf8)
        let rack = """
            <cluster name="two-hosts">
              <import href="host.xml"/>
              <fabric>
                <switch id="tor" role="tor"/>
                <host template="\(result.name)" count="2"/>
                <link a="host/nic" b="tor" bandwidth="56Gb/s" medium="infiniband"/>
              </fabric>
            </cluster>
            """
        let rackFile = directory.appendingPathComponent("rack.xml")
        try rack.write(to: rackFile, atomically: true, encoding: .utf8)
        let cluster = try ClusterLoader.load(path: rackFile.path)
        #expect(cluster.accelerators.count == 2 * result.cluster.accelerators.count)
        #expect(cluster.level(named: "host").map { cluster.domains(at: $0).count } == 2)
    }

    @Test func mixedGPUsAndNICsAreIndividualDevicesBehindGroupAliases() throws {
        let result = try Self.load("mixed-gpus")
        let cluster = result.cluster
        #expect(Set(cluster.accelerators.compactMap { cluster.model(of: $0)?.id }) == ["A100-SXM4-80GB", "H100-SXM5-80GB"])
        #expect(result.xml.contains("<group id=\"gpu\" members=\"gpu_0000_1b_00.0 gpu_0000_1c_00.0\"/>"))
        #expect(result.xml.contains("<group id=\"nic\" members=\"nic_mlx5_0 nic_mlx5_1\"/>"))
        let speeds = Self.devices(cluster, .nic).compactMap { cluster.groups[Int(cluster.devices[Int($0)].group)].speed }
        #expect(speeds == [12.5e9, 50e9])

        // A parent cluster can still address host/gpu and host/nic.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try result.xml.write(to: directory.appendingPathComponent("mixed.xml"), atomically: true, encoding: .utf8)
        let parent = """
            <cluster name="pair">
              <import href="mixed.xml"/>
              <fabric>
                <switch id="tor"/>
                <switch id="probe"/>
                <host template="\(result.name)" count="2"/>
                <link a="host/nic" b="tor" bandwidth="100Gb/s" medium="ethernet"/>
                <link a="host/gpu" b="probe" bandwidth="1GB/s"/>
              </fabric>
            </cluster>
            """
        let parentFile = directory.appendingPathComponent("pair.xml")
        try parent.write(to: parentFile, atomically: true, encoding: .utf8)
        let pair = try ClusterLoader.load(path: parentFile.path)
        #expect(pair.accelerators.count == 4)
        #expect(Self.links(pair, .nic, .switch, medium: "ethernet").count == 4)
        #expect(Self.links(pair, .accelerator, .switch).filter { $0.bandwidth == 1e9 }.count == 4)
    }

    // MARK: NVLink

    @Test func nvlinksToNVSwitchesBecomeOneSharedSwitch() throws {
        let result = try Self.load("nvswitch-h100")
        let cluster = result.cluster
        #expect(cluster.accelerators.count == 8)
        #expect(cluster.accelerators.allSatisfy { cluster.model(of: $0)?.id == "H100-SXM5-80GB" })
        let nvswitches = Self.devices(cluster, .switch, role: "nvswitch")
        #expect(nvswitches.count == 1)
        // 4 + 5 + 5 + 4 = 18 NVLink 4 links of 25 GB/s per GPU.
        let nvlinks = cluster.links.filter { $0.medium == "nvlink" }
        #expect(nvlinks.count == 8)
        #expect(nvlinks.allSatisfy { $0.bandwidth == 450e9 && ($0.a == nvswitches[0] || $0.b == nvswitches[0]) })
        // The NVSwitch's PCI endpoint is management only: no PCIe link reaches the NVSwitch.
        #expect(!cluster.links.contains { $0.medium == "pcie" && ($0.a == nvswitches[0] || $0.b == nvswitches[0]) })
        #expect(result.notes.contains { $0.contains("NVSwitch PCI endpoint") })
        let nics = Self.devices(cluster, .nic, role: "ethernet")
        #expect(nics.count == 8)
        #expect(nics.allSatisfy { cluster.groups[Int(cluster.devices[Int($0)].group)].speed == 50e9 })
        // Gen5 x16.
        let gen5 = 32e9 * 16 * 128 / 130 / 8
        #expect(Self.links(cluster, .accelerator, .switch, medium: "pcie").allSatisfy { Self.approximately($0.bandwidth, gen5) })
    }

    @Test func directGPUToGPUNVLinksAreDeduplicatedAndBundled() throws {
        let result = try Self.load("gpu-nvlinks")
        let cluster = result.cluster
        #expect(cluster.accelerators.count == 4)
        #expect(Self.devices(cluster, .switch).isEmpty)
        let nvlinks = cluster.links.filter { $0.medium == "nvlink" }
        // Pairs 0-1 (2 links), 0-2, 0-3 (one side only), 1-3, 2-3 (2 links; busid case differs).
        #expect(nvlinks.count == 5)
        func bandwidth(_ a: Int, _ b: Int) -> Double? {
            let (x, y) = (cluster.accelerators[a], cluster.accelerators[b])
            return nvlinks.first { ($0.a == x && $0.b == y) || ($0.a == y && $0.b == x) }?.bandwidth
        }
        #expect(bandwidth(0, 1) == 50e9)
        #expect(bandwidth(0, 2) == 25e9)
        #expect(bandwidth(0, 3) == 25e9)
        #expect(bandwidth(2, 3) == 50e9)
        #expect(bandwidth(1, 2) == nil)
        // GPUs straight under the CPU: Gen3 x16 links to it.
        let gen3 = 8e9 * 16 * 128 / 130 / 8
        #expect(Self.links(cluster, .accelerator, .cpu).count == 4)
        #expect(Self.links(cluster, .accelerator, .cpu).allSatisfy { Self.approximately($0.bandwidth, gen3) })
    }

    @Test func devicesWithoutCPUGetOneAndNVLinksToTheCPUAreKept() throws {
        let result = try Self.load("no-cpu-power-nvlink")
        let cluster = result.cluster
        #expect(Self.devices(cluster, .cpu).count == 1)
        #expect(cluster.accelerators.count == 1)
        // 3 NVLink 2 links to the CPU; the link to the absent GPU is dropped.
        #expect(Self.links(cluster, .accelerator, .cpu, medium: "nvlink").map(\.bandwidth) == [75e9])
        #expect(Self.links(cluster, .accelerator, .cpu, medium: "pcie").count == 1)
        // PCIe Gen4 x8 for the NIC.
        #expect(Self.links(cluster, .nic, .cpu).first.map { Self.approximately($0.bandwidth, Self.gen4x16 / 2) } == true)
        let notes = result.notes.joined(separator: "\n")
        #expect(notes.contains("devices directly under <system> without a <cpu>"))
        #expect(notes.contains("NVLink to a GPU not in the file on 0035:04:00.0"))
        #expect(notes.contains("ignored <c2c> on line 13"))
    }

    @Test func awkwardFileNamesStillGiveAValidFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nccl--\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("8 GPU--node & co.xml")
        try FileManager.default.copyItem(atPath: Self.fixture("gpu-nvlinks"), toPath: copy.path)
        let result = try NCCLImporter.importHost(path: copy.path)
        #expect(result.name == "host_8_GPU--node___co")
        #expect(result.cluster.accelerators.count == 4)
    }

    // MARK: NICs

    @Test func nicUnderCPUIsLinkedToItAtItsLineRate() throws {
        let result = try Self.load("nic-under-cpu")
        let cluster = result.cluster
        let nic = try #require(Self.devices(cluster, .nic).first)
        #expect(cluster.groups[Int(cluster.devices[Int(nic)].group)].speed == 12.5e9)
        let links = Self.links(cluster, .nic, .cpu)
        #expect(links.count == 1)
        #expect(links.first?.bandwidth == 12.5e9)
        #expect(result.notes.contains { $0.contains("NIC with no PCI path") && $0.contains("eth0") })
    }

    @Test func netsOnDifferentPortsAreSeparateNICsSharingTheirPCIeLink() throws {
        let result = try Self.load("multi-net-nic")
        let cluster = result.cluster
        let nics = Self.devices(cluster, .nic)
        #expect(nics.count == 2)
        #expect(nics.allSatisfy { cluster.groups[Int(cluster.devices[Int($0)].group)].speed == 25e9 })
        let links = Self.links(cluster, .nic, .switch)
        #expect(links.count == 2)
        #expect(links.allSatisfy { Self.approximately($0.bandwidth, Self.gen4x16 / 2) })
    }

    @Test func bondedNetsOnOnePortAreOneNICAtTheHighestSpeed() throws {
        let result = try Self.load("bonded-nic")
        let cluster = result.cluster
        let nics = Self.devices(cluster, .nic)
        #expect(nics.count == 1)
        #expect(nics.first.map { cluster.groups[Int(cluster.devices[Int($0)].group)].speed } == 25e9)
        #expect(result.notes.contains { $0.contains("bonded") && $0.contains("mlx5_bond_0+mlx5_0") })
        #expect(Self.links(cluster, .nic, .switch).first.map { Self.approximately($0.bandwidth, Self.gen4x16) } == true)
    }

    // MARK: PCIe

    @Test func nestedPCIeSwitchesChainAtTheirOwnSpeeds() throws {
        let cluster = try Self.load("nested-switches").cluster
        let switches = Self.devices(cluster, .switch, role: "pcie")
        #expect(switches.count == 2)
        let between = Self.links(cluster, .switch, .switch)
        #expect(between.count == 1)
        #expect(between.first.map { Self.approximately($0.bandwidth, 8e9 * 16 * 128 / 130 / 8) } == true)
        // Gen2 x8 to the CPU: 5 GT/s × 8 lanes × 8/10 / 8 = 4 GB/s.
        #expect(Self.links(cluster, .switch, .cpu).map(\.bandwidth) == [4e9])
        #expect(cluster.accelerators.allSatisfy { cluster.model(of: $0)?.id == "L40-48GB" })
        #expect(Self.devices(cluster, .nic).first.map { cluster.groups[Int(cluster.devices[Int($0)].group)].speed } == 3.125e9)
    }

    @Test func pcieBandwidthUsesTheEncodingOfEachGeneration() {
        #expect(NCCLImporter.pcieBandwidth(gigatransfersPerSecond: 2.5, lanes: 1) == 0.25e9)
        #expect(NCCLImporter.pcieBandwidth(gigatransfersPerSecond: 5, lanes: 16) == 8e9)
        #expect(Self.approximately(NCCLImporter.pcieBandwidth(gigatransfersPerSecond: 8, lanes: 16), 15.753846e9))
        #expect(Self.approximately(NCCLImporter.pcieBandwidth(gigatransfersPerSecond: 16, lanes: 16), 31.507692e9))
        #expect(NCCLImporter.nvlinkBandwidth(sm: 60) == 20e9)
        #expect(NCCLImporter.nvlinkBandwidth(sm: 90) == 25e9)
        #expect(NCCLImporter.nvlinkBandwidth(sm: 100) == 50e9)
        #expect(NCCLImporter.nvlinkBandwidth(sm: 52) == nil)
    }

    @Test func missingAttributesGetDefaultsAndNotes() throws {
        let result = try Self.load("missing-attributes")
        let cluster = result.cluster
        #expect(cluster.accelerators.count == 2)
        #expect(cluster.accelerators.allSatisfy { cluster.model(of: $0)?.id == "generic-gpu" })
        let notes = result.notes.joined(separator: "\n")
        #expect(notes.contains("no link_speed on 0000:0c:00.0; assumed 16 GT/s (PCIe Gen4)"))
        #expect(notes.contains("unreadable link_speed 'Unknown' on 0000:0f:00.0"))
        #expect(notes.contains("unusable link_width '0' on 0000:0f:00.0; assumed x16"))
        #expect(notes.contains("no readable PCI class on 0000:0f:00.0"))
        #expect(notes.contains("GPU generation unknown (no sm) on 0000:0f:00.0"))
        #expect(notes.contains("sm 75 not in towerplan's GPU table on 0000:10:00.0"))
        #expect(notes.contains("<net> without a usable speed on mlx5_0"))
        #expect(notes.contains("class towerplan does not model on 0000:12:00.0"))
        // One CPU (no numaid), one switch: nothing left disconnected, the NVMe drive left out.
        #expect(Self.devices(cluster, .cpu).count == 1)
        #expect(cluster.devices.count == 1 + 1 + 2 + 1)
        #expect(Self.devices(cluster, .nic).first.map { cluster.groups[Int(cluster.devices[Int($0)].group)].speed == nil } == true)
        #expect(result.xml.contains("Assumptions:"))
    }

    // MARK: Errors

    @Test func xmlThatIsNotAnNCCLTopologyIsRejectedWithTheFileName() throws {
        let message = try Self.failure("not-nccl")
        #expect(message.contains("not-nccl.xml:1"))
        #expect(message.contains("expected an NCCL topology with a <system> root"))
        #expect(message.contains("found <project>"))
    }

    @Test func systemWithoutHardwareIsRejected() throws {
        let message = try Self.failure("empty-system")
        #expect(message.contains("empty-system.xml:1"))
        #expect(message.contains("no <cpu>, <pci> or <gpu> elements"))
    }

    @Test func hostWithoutGPUsIsRejected() throws {
        let message = try Self.failure("no-gpus")
        #expect(message.contains("no-gpus.xml"))
        #expect(message.contains("no GPUs found"))
    }

    @Test func invalidNameAndMissingFileAreTypedErrors() throws {
        let path = try Self.fixture("nccl-tests-8gpu-topo")
        #expect(throws: XMLDiagnostics.self) { try NCCLImporter.importHost(path: path, name: "my host") }
        do throws(XMLDiagnostics) {
            _ = try NCCLImporter.importHost(path: "/nonexistent/topo.xml")
            Issue.record("a missing file should fail")
        } catch {
            #expect(error.description.contains("/nonexistent/topo.xml"))
        }
    }

    @Test func malformedXMLReportsTheLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("broken.xml")
        try "<system>\n  <cpu>\n</system>\n".write(to: file, atomically: true, encoding: .utf8)
        do throws(XMLDiagnostics) {
            _ = try NCCLImporter.importHost(path: file.path)
            Issue.record("malformed XML should fail")
        } catch {
            #expect(error.diagnostics.first?.location.file == file.path)
            #expect((error.diagnostics.first?.location.line ?? 0) > 0)
        }
    }
}
