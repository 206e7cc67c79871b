package io.volumeclone.api.v1alpha1;

import static io.volumeclone.api.v1alpha1.Yaml.volumeClone;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.api.v1alpha1.TestingCrdValidator.Violation;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every CEL rule of the checked-in CRD, evaluated with CEL-Java: for each, inputs it must reject
 * (with its message, and nothing else) and inputs it must accept, on create and on update.
 */
class CrdRulesTest {

  static final String SOURCE_ONE =
      "source must set exactly one of device, persistentVolumeClaim or nbd";
  static final String DESTINATION_ONE =
      "destination must set exactly one of device or persistentVolumeClaim";
  static final String METADATA_ONE =
      "metadata must set exactly one of device or persistentVolumeClaim";
  static final String NODE_REQUIRED =
      "nodeName is required when source, destination or metadata is a device path:"
          + " a device path names a device on one node";
  static final String APPROVED_ONLY_MANUAL =
      "cutoverApproved can only be true when cutover is Manual";
  static final String DIFFERENT_VOLUMES = "source and destination must be different volumes";
  static final String METADATA_OWN =
      "metadata must be a volume of its own, not the source or the destination";
  static final String REGION_SIZE =
      "regionSize must be a power of two between 4Ki and 1Gi, such as 64Ki or 1Mi";
  static final String SOURCE_IMMUTABLE =
      "source is immutable: delete this VolumeClone and create a new one to clone from another"
          + " source";
  static final String DESTINATION_IMMUTABLE =
      "destination is immutable: delete this VolumeClone and create a new one to clone to"
          + " another destination";
  static final String METADATA_IMMUTABLE =
      "metadata is immutable: the copy state of this clone is recorded on the metadata device it"
          + " started with";
  static final String REGION_SIZE_IMMUTABLE =
      "regionSize is immutable: the metadata device records copy state per region";
  static final String RANGE_IMMUTABLE =
      "range is immutable: delete this VolumeClone and create a new one for another range";
  static final String NODE_IMMUTABLE =
      "nodeName is immutable: the clone's devices and its metadata live on the node it started"
          + " on";

  static final String FS_TYPE_ONLY_FILESYSTEM =
      "volume.fsType is only for mode Filesystem: a Block volume is handed to the Pod as a raw"
          + " device";
  static final String VOLUME_CLAIM_NAME =
      "volume.claimName must be a DNS-1123 name: lower-case letters, digits, '-' and '.',"
          + " starting and ending with a letter or digit";
  static final String VOLUME_CLAIM_NEW =
      "volume.claimName must name a new claim for workloads, not the source, destination or"
          + " metadata claim";
  static final String VOLUME_IMMUTABLE =
      "volume is immutable: workloads may be using its claim; delete this VolumeClone and"
          + " create a new one for another volume";

  static final List<String> TESTED_RULE_MESSAGES =
      List.of(
          FS_TYPE_ONLY_FILESYSTEM,
          VOLUME_CLAIM_NAME,
          VOLUME_CLAIM_NEW,
          VOLUME_IMMUTABLE,
          SOURCE_ONE,
          DESTINATION_ONE,
          METADATA_ONE,
          NODE_REQUIRED,
          APPROVED_ONLY_MANUAL,
          DIFFERENT_VOLUMES,
          METADATA_OWN,
          REGION_SIZE,
          SOURCE_IMMUTABLE,
          DESTINATION_IMMUTABLE,
          METADATA_IMMUTABLE,
          REGION_SIZE_IMMUTABLE,
          RANGE_IMMUTABLE,
          NODE_IMMUTABLE);

  static final TestingCrdValidator VALIDATOR = new TestingCrdValidator(CrdFile.openApiSchema());

  /** A minimal valid clone: PVC to PVC. */
  static ObjectNode pvcClone() {
    return volumeClone(
        """
        source: {persistentVolumeClaim: {claimName: src}}
        destination: {persistentVolumeClaim: {claimName: dst}}
        """);
  }

  static void assertRejected(List<Violation> violations, String field, String message) {
    assertThat(violations).containsExactly(new Violation(field, message));
  }

  static void assertAccepted(List<Violation> violations) {
    assertThat(violations).isEmpty();
  }

  static List<Violation> create(String spec) {
    return VALIDATOR.validateCreate(volumeClone(spec));
  }

  static List<Violation> update(JsonNode oldObject, JsonNode newObject) {
    return VALIDATOR.validateUpdate(oldObject, newObject);
  }

  static ObjectNode spec(ObjectNode volumeClone) {
    return (ObjectNode) volumeClone.get("spec");
  }

  // --- the rule set itself ---

  @Test
  void everyRuleCompilesWithCelJava() {
    assertThat(VALIDATOR.compileAllRules()).isEmpty();
  }

  @Test
  void everyRuleInTheCrdHasAMessageAndATestHere() {
    Set<String> messages = new HashSet<>();
    TestingCrdValidator.forEachRule(
        CrdFile.openApiSchema(),
        "",
        (path, rule) -> {
          assertThat(rule.path("message").asText())
              .as("message of the rule at %s: %s", path, rule.path("rule").asText())
              .isNotBlank();
          messages.add(rule.path("message").asText());
        });
    assertThat(messages).containsExactlyInAnyOrderElementsOf(TESTED_RULE_MESSAGES);
  }

  // --- source: exactly one reference ---

  @Test
  void sourceWithTwoReferencesIsRejected() {
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: a}, nbd: {uri: "nbd://backup/x"}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            """),
        "spec.source",
        SOURCE_ONE);
    assertRejected(
        create(
            """
            nodeName: n1
            source: {device: {path: /dev/sdb}, persistentVolumeClaim: {claimName: a},
                     nbd: {uri: "nbd://backup/x"}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            """),
        "spec.source",
        SOURCE_ONE);
  }

  @Test
  void sourceWithoutReferenceIsRejected() {
    assertRejected(
        create(
            """
            source: {}
            destination: {persistentVolumeClaim: {claimName: dst}}
            """),
        "spec.source",
        SOURCE_ONE);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "{device: {path: /dev/sdb}}",
        "{persistentVolumeClaim: {claimName: src}}",
        "{nbd: {uri: \"nbd+unix:///backup?socket=/run/backup.sock\"}}"
      })
  void sourceWithOneReferenceIsAccepted(String source) {
    assertAccepted(
        create(
            "nodeName: n1\nsource: "
                + source
                + "\ndestination: {persistentVolumeClaim: {claimName: dst}}\n"));
  }

  // --- source.nbd.uri: what the agent's NBD client takes ---

  @ParameterizedTest
  @ValueSource(
      strings = {
        "nbd://backup/x",
        "nbd://backup:10809/db",
        "nbd://[::1]:10809/db",
        "nbd://backup",
        "nbd+unix:///backup?socket=/run/backup.sock",
        "nbd+unix:///?socket=/run/backup.sock"
      })
  void nbdUrisTheAgentTakesAreAccepted(String uri) {
    assertAccepted(nbdSource(uri));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "nbds://backup/x",
        "nbds+unix:///backup?socket=/run/backup.sock",
        "nbd+unix:///backup",
        "nbd+unix:///backup?",
        "nbd+unix:///backup?socket=",
        "nbd+unix:///backup?sock=/run/backup.sock",
        "nbd+unix:///backup?socket=/run/backup.sock&tls=on",
        "nbd+unix://host/backup?socket=/run/backup.sock",
        "nbd:///x",
        "nbd://backup/x?tls=on",
        "http://backup/x"
      })
  void nbdUrisTheAgentRefusesFailThePattern(String uri) {
    List<Violation> violations = nbdSource(uri);
    assertThat(violations)
        .singleElement()
        .satisfies(
            v -> {
              assertThat(v.field()).isEqualTo("spec.source.nbd.uri");
              assertThat(v.message()).contains("does not match the regex pattern");
            });
  }

  static List<Violation> nbdSource(String uri) {
    return create(
        "source: {nbd: {uri: \""
            + uri
            + "\"}}\ndestination: {persistentVolumeClaim: {claimName: dst}}\n");
  }

  // --- destination: exactly one reference ---

  @Test
  void destinationWithTwoReferencesIsRejected() {
    assertRejected(
        create(
            """
            nodeName: n1
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {device: {path: /dev/sdc}, persistentVolumeClaim: {claimName: dst}}
            """),
        "spec.destination",
        DESTINATION_ONE);
  }

  @Test
  void destinationWithoutReferenceIsRejected() {
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {}
            """),
        "spec.destination",
        DESTINATION_ONE);
  }

  @ParameterizedTest
  @ValueSource(strings = {"{device: {path: /dev/sdc}}", "{persistentVolumeClaim: {claimName: d}}"})
  void destinationWithOneReferenceIsAccepted(String destination) {
    assertAccepted(
        create(
            "nodeName: n1\nsource: {persistentVolumeClaim: {claimName: src}}\ndestination: "
                + destination
                + "\n"));
  }

  // --- metadata: exactly one reference, optional ---

  @Test
  void metadataWithTwoReferencesIsRejected() {
    assertRejected(
        create(
            """
            nodeName: n1
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            metadata: {device: {path: /dev/meta}, persistentVolumeClaim: {claimName: meta}}
            """),
        "spec.metadata",
        METADATA_ONE);
  }

  @Test
  void metadataWithoutReferenceIsRejected() {
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            metadata: {}
            """),
        "spec.metadata",
        METADATA_ONE);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "metadata: {device: {path: /dev/meta}}",
        "metadata: {persistentVolumeClaim:" + " {claimName: meta}}"
      })
  void metadataAbsentOrWithOneReferenceIsAccepted(String metadata) {
    assertAccepted(
        create(
            "nodeName: n1\nsource: {persistentVolumeClaim: {claimName: src}}\n"
                + "destination: {persistentVolumeClaim: {claimName: dst}}\n"
                + metadata
                + "\n"));
  }

  // --- nodeName required with device paths ---

  @ParameterizedTest
  @ValueSource(
      strings = {
        "source: {device: {path: /dev/sdb}}\ndestination: {persistentVolumeClaim: {claimName: d}}",
        "source: {persistentVolumeClaim: {claimName: s}}\ndestination: {device: {path: /dev/sdc}}",
        "source: {nbd: {uri: \"nbd://h/e\"}}\ndestination: {persistentVolumeClaim: {claimName: d}}"
            + "\nmetadata: {device: {path: /dev/meta}}",
        "nodeName: \"\"\nsource: {device: {path: /dev/sdb}}\n"
            + "destination: {device: {path: /dev/sdc}}"
      })
  void devicePathWithoutNodeNameIsRejected(String spec) {
    assertRejected(create(spec), "spec", NODE_REQUIRED);
  }

  @Test
  void devicePathsWithNodeNameAndPvcsWithoutAreAccepted() {
    assertAccepted(
        create(
            """
            nodeName: worker-1
            source: {device: {path: /dev/sdb}}
            destination: {device: {path: /dev/sdc}}
            metadata: {device: {path: /dev/meta}}
            """));
    assertAccepted(
        create(
            """
            source: {nbd: {uri: "nbd://backup:10809/db"}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            metadata: {persistentVolumeClaim: {claimName: meta}}
            """));
  }

  // --- cutoverApproved only with Manual ---

  @Test
  void cutoverApprovedWithAutomaticCutoverIsRejected() {
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            cutover: Automatic
            cutoverApproved: true
            """),
        "spec",
        APPROVED_ONLY_MANUAL);
  }

  @Test
  void cutoverApprovedWithDefaultedCutoverIsRejected() {
    // cutover defaults to Automatic before the rules run, as on the API server
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            cutoverApproved: true
            """),
        "spec",
        APPROVED_ONLY_MANUAL);
  }

  @Test
  void cutoverApprovedWithManualCutoverOrFalseIsAccepted() {
    assertAccepted(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            cutover: Manual
            cutoverApproved: true
            """));
    assertAccepted(
        create(
            """
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            cutover: Automatic
            cutoverApproved: false
            """));
  }

  @Test
  void approvingAManualCutoverLaterIsAccepted() {
    ObjectNode old = pvcClone();
    spec(old).put("cutover", "Manual");
    ObjectNode approved = old.deepCopy();
    spec(approved).put("cutoverApproved", true);
    assertAccepted(update(old, approved));
  }

  // --- source and destination differ ---

  @Test
  void sameClaimAsSourceAndDestinationIsRejected() {
    assertRejected(
        create(
            """
            source: {persistentVolumeClaim: {claimName: data}}
            destination: {persistentVolumeClaim: {claimName: data}}
            """),
        "spec",
        DIFFERENT_VOLUMES);
  }

  @Test
  void sameDeviceAsSourceAndDestinationIsRejected() {
    assertRejected(
        create(
            """
            nodeName: n1
            source: {device: {path: /dev/sdb}}
            destination: {device: {path: /dev/sdb}}
            """),
        "spec",
        DIFFERENT_VOLUMES);
  }

  @Test
  void differentVolumesAreAccepted() {
    assertAccepted(
        create(
            """
            nodeName: n1
            source: {device: {path: /dev/sdb}}
            destination: {device: {path: /dev/sdc}}
            """));
    // a claim and a device of the same name are different things
    assertAccepted(
        create(
            """
            nodeName: n1
            source: {persistentVolumeClaim: {claimName: sdb}}
            destination: {device: {path: /dev/sdb}}
            """));
  }

  // --- metadata is its own volume ---

  @ParameterizedTest
  @ValueSource(
      strings = {
        "source: {persistentVolumeClaim: {claimName: a}}\n"
            + "destination: {persistentVolumeClaim: {claimName: b}}\n"
            + "metadata: {persistentVolumeClaim: {claimName: a}}",
        "source: {persistentVolumeClaim: {claimName: a}}\n"
            + "destination: {persistentVolumeClaim: {claimName: b}}\n"
            + "metadata: {persistentVolumeClaim: {claimName: b}}",
        "nodeName: n1\nsource: {device: {path: /dev/a}}\n"
            + "destination: {device: {path: /dev/b}}\nmetadata: {device: {path: /dev/a}}",
        "nodeName: n1\nsource: {device: {path: /dev/a}}\n"
            + "destination: {device: {path: /dev/b}}\nmetadata: {device: {path: /dev/b}}"
      })
  void metadataOnTheSourceOrDestinationIsRejected(String spec) {
    assertRejected(create(spec), "spec", METADATA_OWN);
  }

  @Test
  void metadataOnItsOwnVolumeIsAccepted() {
    assertAccepted(
        create(
            """
            nodeName: n1
            source: {device: {path: /dev/a}}
            destination: {persistentVolumeClaim: {claimName: a}}
            metadata: {device: {path: /dev/meta}}
            """));
    assertAccepted(
        create(
            """
            source: {persistentVolumeClaim: {claimName: a}}
            destination: {persistentVolumeClaim: {claimName: b}}
            metadata: {persistentVolumeClaim: {claimName: c}}
            """));
  }

  // --- regionSize: a power of two in 4Ki..1Gi ---

  @ParameterizedTest
  @ValueSource(
      strings = {
        "4Ki",
        "8Ki",
        "64Ki",
        "512Ki",
        "1Mi",
        "2Mi",
        "512Mi",
        "1Gi",
        "4096",
        "65536",
        "1073741824",
        "1024Ki",
        "0004Ki"
      })
  void powerOfTwoRegionSizesInRangeAreAccepted(String regionSize) {
    ObjectNode vc = pvcClone();
    spec(vc).put("regionSize", regionSize);
    assertAccepted(VALIDATOR.validateCreate(vc));
  }

  @ParameterizedTest
  @ValueSource(longs = {4096, 65536, 1048576, 1073741824})
  void integerRegionSizesAreAccepted(long regionSize) {
    ObjectNode vc = pvcClone();
    spec(vc).put("regionSize", regionSize);
    assertAccepted(VALIDATOR.validateCreate(vc));
  }

  @Test
  void absentRegionSizeDefaultsTo64Ki() {
    JsonNode admitted = VALIDATOR.admit(pvcClone());
    assertThat(admitted.at("/spec/regionSize").asText()).isEqualTo("64Ki");
    assertAccepted(VALIDATOR.validateCreate(pvcClone()));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "2Ki",
        "2048",
        "0",
        "0Ki",
        "96Ki",
        "3000",
        "100Ki",
        "2Gi",
        "2048Mi",
        "4294967296",
        "99999999999999999999Ki",
        "9999999999Gi",
        "1000000000000000000000"
      })
  void otherRegionSizesAreRejected(String regionSize) {
    ObjectNode vc = pvcClone();
    spec(vc).put("regionSize", regionSize);
    assertRejected(VALIDATOR.validateCreate(vc), "spec.regionSize", REGION_SIZE);
  }

  @ParameterizedTest
  @ValueSource(longs = {0, 1, 4095, 6144, 2147483648L, -4096})
  void otherIntegerRegionSizesAreRejected(long regionSize) {
    ObjectNode vc = pvcClone();
    spec(vc).put("regionSize", regionSize);
    assertRejected(VALIDATOR.validateCreate(vc), "spec.regionSize", REGION_SIZE);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "64KB",
        "64KiB",
        "64 Ki",
        "1.5Mi",
        "64ki",
        "-64Ki",
        "1Ti",
        "abc",
        "",
        // Kubernetes quantities: 1M and 1G are powers of ten, 64K is no quantity at all
        "4K",
        "64K",
        "2K",
        "1M",
        "1G",
        "2G"
      })
  void malformedRegionSizesFailThePatternAndTheRule(String regionSize) {
    ObjectNode vc = pvcClone();
    spec(vc).put("regionSize", regionSize);
    List<Violation> violations = VALIDATOR.validateCreate(vc);
    assertThat(violations).contains(new Violation("spec.regionSize", REGION_SIZE));
    assertThat(violations)
        .anySatisfy(
            v -> {
              assertThat(v.field()).isEqualTo("spec.regionSize");
              assertThat(v.message()).contains("does not match the regex pattern");
            });
  }

  // --- immutability (transition rules: only on update) ---

  @Test
  void changingTheSourceIsRejected() {
    ObjectNode old = pvcClone();
    ObjectNode changed = old.deepCopy();
    spec(changed).set("source", Yaml.parse("persistentVolumeClaim: {claimName: other}"));
    assertRejected(update(old, changed), "spec", SOURCE_IMMUTABLE);
    // the same change is fine on create: transition rules do not run there
    assertAccepted(VALIDATOR.validateCreate(changed));
  }

  @Test
  void switchingTheSourceKindIsRejected() {
    ObjectNode old = pvcClone();
    ObjectNode changed = old.deepCopy();
    spec(changed).set("source", Yaml.parse("nbd: {uri: \"nbd://backup/db\"}"));
    assertRejected(update(old, changed), "spec", SOURCE_IMMUTABLE);
  }

  @Test
  void changingTheDestinationIsRejected() {
    ObjectNode old = pvcClone();
    ObjectNode changed = old.deepCopy();
    spec(changed).set("destination", Yaml.parse("persistentVolumeClaim: {claimName: other}"));
    assertRejected(update(old, changed), "spec", DESTINATION_IMMUTABLE);
  }

  @Test
  void addingChangingOrRemovingMetadataIsRejected() {
    ObjectNode without = pvcClone();
    ObjectNode with = without.deepCopy();
    spec(with).set("metadata", Yaml.parse("persistentVolumeClaim: {claimName: meta}"));
    ObjectNode other = without.deepCopy();
    spec(other).set("metadata", Yaml.parse("persistentVolumeClaim: {claimName: meta2}"));

    assertRejected(update(without, with), "spec", METADATA_IMMUTABLE);
    assertRejected(update(with, without), "spec", METADATA_IMMUTABLE);
    assertRejected(update(with, other), "spec", METADATA_IMMUTABLE);
  }

  @Test
  void changingTheRegionSizeIsRejected() {
    ObjectNode old = pvcClone();
    spec(old).put("regionSize", "64Ki");
    ObjectNode changed = old.deepCopy();
    spec(changed).put("regionSize", "1Mi");
    assertRejected(update(old, changed), "spec", REGION_SIZE_IMMUTABLE);
    // spelled differently is still a change of the field
    spec(changed).put("regionSize", "65536");
    assertRejected(update(old, changed), "spec", REGION_SIZE_IMMUTABLE);
  }

  @Test
  void droppingTheDefaultRegionSizeIsNoChange() {
    ObjectNode old = pvcClone();
    spec(old).put("regionSize", "64Ki");
    // the API server applies the default 64Ki to the new object before the rules run
    assertAccepted(update(old, pvcClone()));
  }

  @Test
  void addingChangingOrRemovingTheRangeIsRejected() {
    ObjectNode without = pvcClone();
    ObjectNode with = without.deepCopy();
    spec(with).set("range", Yaml.parse("{sourceOffset: 0, destinationOffset: 0, size: 10Gi}"));
    ObjectNode other = without.deepCopy();
    spec(other).set("range", Yaml.parse("{sourceOffset: 0, destinationOffset: 0, size: 20Gi}"));

    assertRejected(update(without, with), "spec", RANGE_IMMUTABLE);
    assertRejected(update(with, without), "spec", RANGE_IMMUTABLE);
    assertRejected(update(with, other), "spec", RANGE_IMMUTABLE);
  }

  @Test
  void settingChangingOrRemovingTheNodeNameIsRejected() {
    ObjectNode without = pvcClone();
    ObjectNode with = without.deepCopy();
    spec(with).put("nodeName", "worker-1");
    ObjectNode other = without.deepCopy();
    spec(other).put("nodeName", "worker-2");

    assertRejected(update(without, with), "spec", NODE_IMMUTABLE);
    assertRejected(update(with, without), "spec", NODE_IMMUTABLE);
    assertRejected(update(with, other), "spec", NODE_IMMUTABLE);
  }

  @Test
  void updatesThatKeepTheImmutableFieldsAreAccepted() {
    ObjectNode old =
        volumeClone(
            """
            nodeName: worker-1
            source: {device: {path: /dev/sdb}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            metadata: {device: {path: /dev/meta}}
            regionSize: 1Mi
            range: {sourceOffset: 1Gi, destinationOffset: 0, size: 10Gi}
            cutover: Manual
            """);
    ObjectNode tuned = old.deepCopy();
    spec(tuned)
        .set(
            "copy",
            Yaml.parse(
                "{paused: true, bandwidth: 50Mi, regionsInFlight: 2, batchRegions: 4,"
                    + " copyOnRead: true}"));
    spec(tuned).put("cutoverApproved", true);
    spec(tuned).put("ttlSecondsAfterFinished", 60);
    spec(tuned).put("discardPassdown", false);
    spec(tuned).put("access", "AfterCopy");
    assertAccepted(update(old, tuned));
    assertAccepted(update(old, old.deepCopy()));
  }

  @Test
  void transitionRulesCompareWholeReferences() {
    // an unchanged reference written with keys in another order is the same value
    ObjectNode old =
        volumeClone(
            """
            range: {sourceOffset: 0, destinationOffset: 4Ki, size: 1Gi}
            source: {persistentVolumeClaim: {claimName: src}}
            destination: {persistentVolumeClaim: {claimName: dst}}
            """);
    ObjectNode reordered =
        volumeClone(
            """
            destination: {persistentVolumeClaim: {claimName: dst}}
            source: {persistentVolumeClaim: {claimName: src}}
            range: {size: 1Gi, destinationOffset: 4Ki, sourceOffset: 0}
            """);
    assertAccepted(update(old, reordered));
  }

  // --- volume: the claim workloads mount ---

  static final String PVCS =
      """
      source: {persistentVolumeClaim: {claimName: src}}
      destination: {persistentVolumeClaim: {claimName: dst}}
      metadata: {persistentVolumeClaim: {claimName: meta}}
      """;

  @ParameterizedTest
  @ValueSource(
      strings = {
        "{claimName: db-data}",
        "{claimName: db-data, mode: Filesystem, fsType: ext4}",
        "{claimName: db.data-2, fsType: xfs}",
        "{claimName: db-data, mode: Block}"
      })
  void aVolumeWithANewClaimIsAccepted(String volume) {
    assertAccepted(create(PVCS + "volume: " + volume + "\n"));
  }

  @Test
  void fsTypeWithBlockModeIsRejected() {
    assertRejected(
        create(PVCS + "volume: {claimName: db-data, mode: Block, fsType: ext4}\n"),
        "spec.volume",
        FS_TYPE_ONLY_FILESYSTEM);
  }

  @ParameterizedTest
  @ValueSource(strings = {"Db-Data", "-db", "db-", "db_data", "db..data", "db/data"})
  void aClaimNameThatIsNoDns1123NameIsRejected(String name) {
    assertRejected(
        create(PVCS + "volume: {claimName: \"" + name + "\"}\n"),
        "spec.volume.claimName",
        VOLUME_CLAIM_NAME);
  }

  @ParameterizedTest
  @ValueSource(strings = {"src", "dst", "meta"})
  void aClaimNameOfTheSourceDestinationOrMetadataIsRejected(String name) {
    assertRejected(create(PVCS + "volume: {claimName: " + name + "}\n"), "spec", VOLUME_CLAIM_NEW);
  }

  @Test
  void aVolumeNextToDevicePathsIsAccepted() {
    assertAccepted(
        create(
            """
            nodeName: n1
            source: {device: {path: /dev/sdb}}
            destination: {device: {path: /dev/sdc}}
            volume: {claimName: dst, mode: Block}
            """));
  }

  @Test
  void volumeIsImmutable() {
    ObjectNode old = volumeClone(PVCS + "volume: {claimName: db-data, fsType: ext4}\n");
    ObjectNode renamed = old.deepCopy();
    ((ObjectNode) spec(renamed).get("volume")).put("claimName", "other");
    assertRejected(update(old, renamed), "spec", VOLUME_IMMUTABLE);
    ObjectNode removed = old.deepCopy();
    spec(removed).remove("volume");
    assertRejected(update(old, removed), "spec", VOLUME_IMMUTABLE);
    ObjectNode added = volumeClone(PVCS);
    assertRejected(update(added, old), "spec", VOLUME_IMMUTABLE);
    assertAccepted(update(old, old.deepCopy()));
  }
}
