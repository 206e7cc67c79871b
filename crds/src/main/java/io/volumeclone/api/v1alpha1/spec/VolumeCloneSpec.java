package io.volumeclone.api.v1alpha1.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.SchemaFrom;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.volumeclone.api.Sizes;
import java.util.Objects;

/**
 * What to clone, where to, and how. The static rules users can break are CEL rules on this class
 * and its fields, so the API server rejects them before the operator sees the object; each rule has
 * a message that says what to change. Checks that need the cluster (PVC sizes and modes, allowed
 * device prefixes, one clone per destination) are the operator's.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value =
        "!((has(self.source) && has(self.source.device))"
            + " || (has(self.destination) && has(self.destination.device))"
            + " || (has(self.metadata) && has(self.metadata.device)))"
            + " || (has(self.nodeName) && self.nodeName != '')",
    message =
        "nodeName is required when source, destination or metadata is a device path:"
            + " a device path names a device on one node")
@ValidationRule(
    value =
        "!has(self.cutoverApproved) || !self.cutoverApproved"
            + " || (has(self.cutover) && self.cutover == 'Manual')",
    message = "cutoverApproved can only be true when cutover is Manual")
@ValidationRule(
    value =
        "!(has(self.source) && has(self.destination))"
            + " || !((has(self.source.persistentVolumeClaim)"
            + " && has(self.destination.persistentVolumeClaim)"
            + " && self.source.persistentVolumeClaim.claimName"
            + " == self.destination.persistentVolumeClaim.claimName)"
            + " || (has(self.source.device) && has(self.destination.device)"
            + " && self.source.device.path == self.destination.device.path))",
    message = "source and destination must be different volumes")
@ValidationRule(
    value =
        "!has(self.metadata)"
            + " || !((has(self.metadata.persistentVolumeClaim)"
            + " && ((has(self.source) && has(self.source.persistentVolumeClaim)"
            + " && self.source.persistentVolumeClaim.claimName"
            + " == self.metadata.persistentVolumeClaim.claimName)"
            + " || (has(self.destination) && has(self.destination.persistentVolumeClaim)"
            + " && self.destination.persistentVolumeClaim.claimName"
            + " == self.metadata.persistentVolumeClaim.claimName)))"
            + " || (has(self.metadata.device)"
            + " && ((has(self.source) && has(self.source.device)"
            + " && self.source.device.path == self.metadata.device.path)"
            + " || (has(self.destination) && has(self.destination.device)"
            + " && self.destination.device.path == self.metadata.device.path))))",
    message = "metadata must be a volume of its own, not the source or the destination")
@ValidationRule(
    value =
        "!has(self.volume)"
            + " || !((has(self.source) && has(self.source.persistentVolumeClaim)"
            + " && self.source.persistentVolumeClaim.claimName == self.volume.claimName)"
            + " || (has(self.destination) && has(self.destination.persistentVolumeClaim)"
            + " && self.destination.persistentVolumeClaim.claimName == self.volume.claimName)"
            + " || (has(self.metadata) && has(self.metadata.persistentVolumeClaim)"
            + " && self.metadata.persistentVolumeClaim.claimName == self.volume.claimName))",
    message =
        "volume.claimName must name a new claim for workloads, not the source, destination or"
            + " metadata claim")
@ValidationRule(
    value =
        "has(self.volume) == has(oldSelf.volume)"
            + " && (!has(self.volume) || self.volume == oldSelf.volume)",
    message =
        "volume is immutable: workloads may be using its claim; delete this VolumeClone and"
            + " create a new one for another volume")
@ValidationRule(
    value = "self.source == oldSelf.source",
    message =
        "source is immutable: delete this VolumeClone and create a new one to clone from"
            + " another source")
@ValidationRule(
    value = "self.destination == oldSelf.destination",
    message =
        "destination is immutable: delete this VolumeClone and create a new one to clone to"
            + " another destination")
@ValidationRule(
    value =
        "has(self.metadata) == has(oldSelf.metadata)"
            + " && (!has(self.metadata) || self.metadata == oldSelf.metadata)",
    message =
        "metadata is immutable: the copy state of this clone is recorded on the metadata"
            + " device it started with")
@ValidationRule(
    value =
        "has(self.regionSize) == has(oldSelf.regionSize)"
            + " && (!has(self.regionSize) || self.regionSize == oldSelf.regionSize)",
    message = "regionSize is immutable: the metadata device records copy state per region")
@ValidationRule(
    value =
        "has(self.range) == has(oldSelf.range)"
            + " && (!has(self.range) || self.range == oldSelf.range)",
    message = "range is immutable: delete this VolumeClone and create a new one for another range")
@ValidationRule(
    value =
        "has(self.nodeName) == has(oldSelf.nodeName)"
            + " && (!has(self.nodeName) || self.nodeName == oldSelf.nodeName)",
    message =
        "nodeName is immutable: the clone's devices and its metadata live on the node it"
            + " started on")
public class VolumeCloneSpec {

  public static final String DEFAULT_REGION_SIZE = "64Ki";

  /** Rejects region sizes that are not a power of two in 4Ki..1Gi; see {@link #regionSize}. */
  static final String REGION_SIZE_RULE =
      "(type(self) == int ? self"
          + " : type(self) != string ? 0"
          + " : self.matches('^[0-9]{1,18}$') ? int(self)"
          + " : self.matches('^[0-9]{1,12}Ki$')"
          + " ? int(self.substring(0, self.indexOf('K'))) * 1024"
          + " : self.matches('^[0-9]{1,12}Mi$')"
          + " ? int(self.substring(0, self.indexOf('M'))) * 1048576"
          + " : self.matches('^[0-9]{1,9}Gi$')"
          + " ? int(self.substring(0, self.indexOf('G'))) * 1073741824"
          + " : 0)"
          + " in [4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152,"
          + " 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912,"
          + " 1073741824]";

  @Size(max = 253)
  @JsonPropertyDescription(
      "Node that runs the clone. Required when source, destination or metadata is a device"
          + " path and no local volume fixes the node. A clone of PVCs only (metadata a PVC or"
          + " the default file) is placed by kube-scheduler wherever its claims can be used"
          + " (local volumes, zones; WaitForFirstConsumer claims bind then); nodeName there only"
          + " restricts the scheduler to that node. status.nodeName says where it runs."
          + " Immutable.")
  private String nodeName;

  @Required
  @JsonPropertyDescription(
      "Where the data comes from: exactly one of device, persistentVolumeClaim or nbd. Opened"
          + " read-only, never written. Immutable.")
  private SourceRef source;

  @Required
  @JsonPropertyDescription(
      "Where the data goes: exactly one of device or persistentVolumeClaim. With access"
          + " Immediate it is usable while the copy runs. Immutable.")
  private DestinationRef destination;

  @JsonPropertyDescription(
      "Device that records which regions are copied, so that a restart or crash loses"
          + " nothing: exactly one of device or persistentVolumeClaim. Default: a file the"
          + " agent keeps on the node under /var/lib/volume-clone/<namespace>/<name>/."
          + " Immutable.")
  private MetadataRef metadata;

  @Default(DEFAULT_REGION_SIZE)
  @SchemaFrom(type = IntOrString.class)
  @Size(max = Sizes.MAX_QUANTITY_LENGTH)
  @Pattern("^[0-9]+(Ki|Mi|Gi)?$")
  @ValidationRule(
      value = REGION_SIZE_RULE,
      message = "regionSize must be a power of two between 4Ki and 1Gi, such as 64Ki or 1Mi")
  @JsonPropertyDescription(
      "Unit of copying and of the copy-state bitmap: a power of two from 4Ki to 1Gi, as a"
          + " quantity (64Ki, 1Mi) or in bytes. A Kubernetes quantity: M and G are powers of"
          + " ten (1M = 10^6), never a power of two, so write Ki, Mi or Gi. Default 64Ki."
          + " Immutable.")
  private String regionSize;

  @JsonPropertyDescription(
      "Copy only a sub-range: size bytes from sourceOffset to destinationOffset. Default:"
          + " the whole source to offset 0 of the destination. Immutable.")
  private CloneRange range;

  @JsonPropertyDescription(
      "The claim workloads mount: the operator creates it and a PersistentVolume on the clone's"
          + " kernel device on its node, so a Pod reads and writes the clone while it copies and"
          + " keeps running through cutover. With access AfterCopy, or on a node without nbd or"
          + " device-mapper, the claim is bound after cutover to the destination. Immutable.")
  private CloneVolume volume;

  @Default("Immediate")
  @JsonPropertyDescription(
      "When consumers may use the clone: Immediate (as soon as it starts; uncopied data is"
          + " read from the source) or AfterCopy (once every region is copied).")
  private Access access;

  @JsonPropertyDescription(
      "Tuning of the background copy (pause, bandwidth, parallelism). May change at any time.")
  private CopySpec copy;

  @Default("true")
  @JsonPropertyDescription(
      "Pass discards (TRIM) from consumers down to the destination. Discarded whole regions"
          + " are marked copied without copying in any case. Default true.")
  private Boolean discardPassdown;

  @Default("Automatic")
  @JsonPropertyDescription(
      "How the clone switches to the destination once every region is copied: Automatic, or"
          + " Manual (wait in phase Copied until cutoverApproved is true).")
  private CutoverMode cutover;

  @Default("false")
  @JsonPropertyDescription(
      "With cutover Manual: set to true to cut over once everything is copied. Only allowed"
          + " with cutover Manual.")
  private Boolean cutoverApproved;

  @Min(0)
  @Max(315360000)
  @JsonPropertyDescription(
      "Delete this VolumeClone this many seconds after it completed or failed. Absent: keep"
          + " it. The data is never deleted.")
  private Long ttlSecondsAfterFinished;

  public VolumeCloneSpec() {}

  public String getNodeName() {
    return nodeName;
  }

  public void setNodeName(String nodeName) {
    this.nodeName = nodeName;
  }

  public SourceRef getSource() {
    return source;
  }

  public void setSource(SourceRef source) {
    this.source = source;
  }

  public DestinationRef getDestination() {
    return destination;
  }

  public void setDestination(DestinationRef destination) {
    this.destination = destination;
  }

  public MetadataRef getMetadata() {
    return metadata;
  }

  public void setMetadata(MetadataRef metadata) {
    this.metadata = metadata;
  }

  public String getRegionSize() {
    return regionSize;
  }

  public void setRegionSize(String regionSize) {
    this.regionSize = regionSize;
  }

  public CloneRange getRange() {
    return range;
  }

  public void setRange(CloneRange range) {
    this.range = range;
  }

  public CloneVolume getVolume() {
    return volume;
  }

  public void setVolume(CloneVolume volume) {
    this.volume = volume;
  }

  public Access getAccess() {
    return access;
  }

  public void setAccess(Access access) {
    this.access = access;
  }

  public CopySpec getCopy() {
    return copy;
  }

  public void setCopy(CopySpec copy) {
    this.copy = copy;
  }

  public Boolean getDiscardPassdown() {
    return discardPassdown;
  }

  public void setDiscardPassdown(Boolean discardPassdown) {
    this.discardPassdown = discardPassdown;
  }

  public CutoverMode getCutover() {
    return cutover;
  }

  public void setCutover(CutoverMode cutover) {
    this.cutover = cutover;
  }

  public Boolean getCutoverApproved() {
    return cutoverApproved;
  }

  public void setCutoverApproved(Boolean cutoverApproved) {
    this.cutoverApproved = cutoverApproved;
  }

  public Long getTtlSecondsAfterFinished() {
    return ttlSecondsAfterFinished;
  }

  public void setTtlSecondsAfterFinished(Long ttlSecondsAfterFinished) {
    this.ttlSecondsAfterFinished = ttlSecondsAfterFinished;
  }

  /** The region size in bytes, {@value #DEFAULT_REGION_SIZE} when unset. */
  public long regionSizeBytes() {
    return Sizes.parseQuantity(regionSize == null ? DEFAULT_REGION_SIZE : regionSize);
  }

  public Access accessOrDefault() {
    return access == null ? Access.Immediate : access;
  }

  public CutoverMode cutoverOrDefault() {
    return cutover == null ? CutoverMode.Automatic : cutover;
  }

  public boolean discardPassdownOrDefault() {
    return discardPassdown == null || discardPassdown;
  }

  public boolean cutoverApprovedOrDefault() {
    return cutoverApproved != null && cutoverApproved;
  }

  /** The copy tuning, never null: an empty {@link CopySpec} (all defaults) when unset. */
  public CopySpec copyOrDefault() {
    return copy == null ? new CopySpec() : copy;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VolumeCloneSpec other
        && Objects.equals(nodeName, other.nodeName)
        && Objects.equals(source, other.source)
        && Objects.equals(destination, other.destination)
        && Objects.equals(metadata, other.metadata)
        && Objects.equals(regionSize, other.regionSize)
        && Objects.equals(range, other.range)
        && Objects.equals(volume, other.volume)
        && access == other.access
        && Objects.equals(copy, other.copy)
        && Objects.equals(discardPassdown, other.discardPassdown)
        && cutover == other.cutover
        && Objects.equals(cutoverApproved, other.cutoverApproved)
        && Objects.equals(ttlSecondsAfterFinished, other.ttlSecondsAfterFinished);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        nodeName,
        source,
        destination,
        metadata,
        regionSize,
        range,
        volume,
        access,
        copy,
        discardPassdown,
        cutover,
        cutoverApproved,
        ttlSecondsAfterFinished);
  }

  @Override
  public String toString() {
    return "VolumeCloneSpec{"
        + source
        + ", "
        + destination
        + (metadata == null ? "" : ", " + metadata)
        + (nodeName == null ? "" : ", node " + nodeName)
        + ", regionSize="
        + regionSize
        + (range == null ? "" : ", " + range)
        + (volume == null ? "" : ", " + volume)
        + ", access="
        + access
        + ", copy="
        + copy
        + ", discardPassdown="
        + discardPassdown
        + ", cutover="
        + cutover
        + ", cutoverApproved="
        + cutoverApproved
        + ", ttlSecondsAfterFinished="
        + ttlSecondsAfterFinished
        + "}";
  }
}
