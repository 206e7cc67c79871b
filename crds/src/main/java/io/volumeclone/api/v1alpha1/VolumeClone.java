package io.volumeclone.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;
import io.volumeclone.api.v1alpha1.spec.VolumeCloneSpec;
import io.volumeclone.api.v1alpha1.status.VolumeCloneStatus;

/**
 * A block-volume clone in the manner of Linux dm-clone: the destination is usable at once, a
 * background copier fills it region by region, and once everything is copied the clone cuts over to
 * the destination. The CRD ({@code crds/volumeclones.volumeclone.io-v1.yml}) is generated from this
 * class and its spec and status.
 */
@Group(VolumeClone.GROUP)
@Version(VolumeClone.VERSION)
@Kind("VolumeClone")
@Plural("volumeclones")
@Singular("volumeclone")
@ShortNames("vc")
@Categories({"volumeclone", "storage"})
@AdditionalPrinterColumn(
    name = "SOURCE",
    jsonPath = ".status.sourceSummary",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "The source: pvc/NAME, a device path or an NBD URI")
@AdditionalPrinterColumn(
    name = "DESTINATION",
    jsonPath = ".status.destinationSummary",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "The destination: pvc/NAME or a device path")
@AdditionalPrinterColumn(
    name = "VOLUME",
    jsonPath = ".status.volume.claimName",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "The claim workloads mount (spec.volume), once the operator created it")
@AdditionalPrinterColumn(
    name = "NODE",
    jsonPath = ".status.nodeName",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "Node the clone runs on")
@AdditionalPrinterColumn(
    name = "PHASE",
    jsonPath = ".status.phase",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "Pending, Copying, Copied, Completed or Failed")
@AdditionalPrinterColumn(
    name = "PROGRESS",
    jsonPath = ".status.progress.percentText",
    type = AdditionalPrinterColumn.Type.STRING,
    getDescription = "Share copied, e.g. 42.1%")
@AdditionalPrinterColumn(
    name = "RATE",
    jsonPath = ".status.progress.rateText",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    getDescription = "Background copy rate, e.g. 120Mi/s")
@AdditionalPrinterColumn(
    name = "ETA",
    jsonPath = ".status.progress.estimatedCompletionTime",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    getDescription = "When the copy is expected to finish at the current rate")
@AdditionalPrinterColumn(
    name = "READY",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    getDescription = "The Ready condition: the clone is complete and cut over")
@AdditionalPrinterColumn(
    name = "AGE",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
@SchemaCustomizer(value = SchemaMergePatch.class, input = "{\"required\":[\"spec\"]}")
public class VolumeClone extends CustomResource<VolumeCloneSpec, VolumeCloneStatus>
    implements Namespaced {

  public static final String GROUP = "volumeclone.io";
  public static final String VERSION = "v1alpha1";
  public static final String KIND = "VolumeClone";
  public static final String PLURAL = "volumeclones";
  public static final String SHORT_NAME = "vc";
  public static final String CRD_NAME = PLURAL + "." + GROUP;

  public VolumeClone() {}

  public VolumeClone(String namespace, String name, VolumeCloneSpec spec) {
    getMetadata().setNamespace(namespace);
    getMetadata().setName(name);
    setSpec(spec);
  }
}
