package io.volumeclone.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.volumeclone.operator.AgentPodFactory;
import io.volumeclone.operator.OperatorOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What can be checked without building the Dockerfiles (ImagesIT builds and starts them): that they
 * copy what the Maven build produces, provide what the operator's Pods run, are the images the
 * chart's defaults name, and pin their bases by digest.
 */
class ImagesTest {

  private static final Path ROOT = ChartFixture.repositoryRoot();

  private static String read(String path) throws IOException {
    return Files.readString(ROOT.resolve(path));
  }

  private static Pod pvcOnlyAgentPod() {
    var owner =
        new GenericKubernetesResourceBuilder()
            .withApiVersion("volumeclone.io/v1alpha1")
            .withKind("VolumeClone")
            .withNewMetadata()
            .withName("copy-db-data")
            .withNamespace("volume-clones")
            .withUid("8d0c3c1e-0000-4000-8000-000000000001")
            .endMetadata()
            .build();
    return new AgentPodFactory(OperatorOptions.defaults())
        .build(
            new AgentPodFactory.Plan(
                owner,
                "node-1",
                List.of(
                    AgentPodFactory.Attachment.claim(AgentPodFactory.Role.SOURCE, "db-data"),
                    AgentPodFactory.Attachment.claim(
                        AgentPodFactory.Role.DESTINATION, "db-data-copy"))));
  }

  @Test
  void agentImageProvidesTheCommandTheOperatorRunsAndTheNodeAttachTools() throws IOException {
    String dockerfile = read("images/agent/Dockerfile");
    String wrapper = read("images/agent/volume-clone");
    Container agent = pvcOnlyAgentPod().getSpec().getContainers().get(0);

    // AgentPodFactory runs `volume-clone agent ...`: the image puts that command on PATH.
    assertThat(agent.getCommand()).containsExactly("volume-clone");
    assertThat(dockerfile).contains("COPY images/agent/volume-clone /usr/local/bin/volume-clone");
    assertThat(Files.isExecutable(ROOT.resolve("images/agent/volume-clone"))).isTrue();
    assertThat(wrapper)
        .startsWith("#!/bin/sh")
        .contains("exec java")
        .contains("-jar /opt/volume-clone/volume-clone.jar \"$@\"");
    assertThat(dockerfile)
        .contains("COPY node-agent/target/volume-clone.jar /opt/volume-clone/volume-clone.jar");
    // Node attach (DESIGN.md, "The export"): the kernel nbd client and device-mapper's tool.
    assertThat(installedPackages(dockerfile)).contains("nbd-client", "dmsetup");
    assertThat(installedPackages(dockerfile))
        .anyMatch(p -> p.matches("openjdk-(2[1-9]|[3-9][0-9])-jre-headless"));
  }

  @Test
  void agentJarPathIsWhatTheNodeAgentBuildProduces() throws IOException {
    // node-agent's shade plugin names the runnable jar; the Dockerfile copies that file.
    String pom = read("node-agent/pom.xml");
    Matcher shade = Pattern.compile("<finalName>([^<]+)</finalName>").matcher(pom);

    assertThat(shade.find()).as("node-agent/pom.xml names its shaded jar").isTrue();
    assertThat(read("images/agent/Dockerfile"))
        .contains("node-agent/target/" + shade.group(1) + ".jar");
  }

  @Test
  void operatorImageRunsTheOperatorMainAsTheUserTheChartRequires() throws Exception {
    String dockerfile = read("images/operator/Dockerfile");
    Deployment deployment = ChartFixture.render().only(Deployment.class);
    long chartUser =
        deployment.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsUser();

    // runAsNonRoot needs a numeric USER the kubelet can check.
    assertThat(dockerfile).containsPattern("(?m)^USER " + chartUser + "(:" + chartUser + ")?$");
    // The image runs the operator's shaded jar, whose manifest names the operator's main class.
    String pom = read("operator/pom.xml");
    Matcher jar = Pattern.compile("<finalName>([^<]+)</finalName>").matcher(pom);
    assertThat(jar.find()).as("operator/pom.xml names its shaded jar").isTrue();
    Matcher main = Pattern.compile("<mainClass>([^<]+)</mainClass>").matcher(pom);
    assertThat(main.find()).as("operator/pom.xml names the jar's main class").isTrue();
    assertThat(main.group(1)).isEqualTo("io.volumeclone.operator.Main");
    assertThat(Class.forName(main.group(1)).getMethod("main", String[].class)).isNotNull();
    String inImage = "/opt/volume-clone-operator/" + jar.group(1) + ".jar";
    assertThat(dockerfile)
        .contains("COPY operator/target/" + jar.group(1) + ".jar " + inImage)
        .contains("ENTRYPOINT [\"java\", \"-jar\", \"" + inImage + "\"]");
  }

  @Test
  void operatorImageExposesThePortsTheChartProbesAndScrapes() throws IOException {
    String dockerfile = read("images/operator/Dockerfile");
    Container operator =
        ChartFixture.render()
            .only(Deployment.class)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0);
    Matcher expose = Pattern.compile("(?m)^EXPOSE (.+)$").matcher(dockerfile);

    assertThat(expose.find()).as("operator Dockerfile EXPOSEs its ports").isTrue();
    assertThat(List.of(expose.group(1).trim().split("\\s+")))
        .containsExactlyInAnyOrderElementsOf(
            operator.getPorts().stream().map(p -> String.valueOf(p.getContainerPort())).toList());
  }

  @Test
  void chartDefaultsNameTheImagesTheDockerfilesDocument(@TempDir Path scratch) throws IOException {
    ChartFixture.Manifests defaults = ChartFixture.render();
    String operatorImage =
        defaults
            .only(Deployment.class)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0)
            .getImage();
    String agentImage =
        OperatorConfig.of(defaults, scratch).options().get(OperatorOptions.AGENT_IMAGE);

    assertThat(read("images/operator/Dockerfile")).contains("-t " + operatorImage + " .");
    assertThat(read("images/agent/Dockerfile")).contains("-t " + agentImage + " .");
    // And the operator's own default agent image is the chart's.
    assertThat(OperatorOptions.defaults().get(OperatorOptions.AGENT_IMAGE)).isEqualTo(agentImage);
  }

  @Test
  void evenPvcOnlyAgentPodsNeedThePrivilegedPodSecurityLevel() {
    // Why the chart labels clone namespaces enforce=privileged: Pod Security "baseline" forbids
    // any hostPath volume and "restricted" also forbids uid 0, and every agent Pod - even one
    // that only clones PVCs - mounts its node state directory through hostPath as root. If this
    // test fails, the operator changed and the chart may lower podSecurity.enforce.
    Pod pod = pvcOnlyAgentPod();

    assertThat(pod.getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getHostPath()).isNotNull());
    assertThat(pod.getSpec().getContainers().get(0).getSecurityContext().getRunAsUser()).isZero();
    assertThat(pod.getSpec().getContainers().get(0).getSecurityContext().getPrivileged()).isFalse();
  }

  @Test
  void baseImagesArePinnedByDigestAndReplaceableAsAWhole() throws IOException {
    for (String dockerfile : List.of("images/agent/Dockerfile", "images/operator/Dockerfile")) {
      String text = read(dockerfile);
      // images/build.sh --base debootstrap swaps the base through this ARG, digest included.
      assertThat(text)
          .as(dockerfile)
          .containsPattern(
              "(?m)^ARG BASE_IMAGE=[^\\s:@]+(/[^\\s:@]+)*(:[\\w.-]+)?@sha256:[0-9a-f]{64}$")
          .containsPattern("(?m)^FROM \\$\\{BASE_IMAGE}$");
      assertThat(text.lines().filter(l -> l.startsWith("FROM "))).as(dockerfile).hasSize(1);
    }
  }

  /** Package names on `apt-get install` lines. */
  private static List<String> installedPackages(String dockerfile) {
    Matcher m = Pattern.compile("apt-get install ([^&\\n]+)").matcher(dockerfile);
    assertThat(m.find()).as("Dockerfile installs Debian packages").isTrue();
    return List.of(m.group(1).trim().split("\\s+")).stream()
        .filter(w -> !w.startsWith("-"))
        .toList();
  }
}
