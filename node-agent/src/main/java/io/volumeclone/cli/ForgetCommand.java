package io.volumeclone.cli;

import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import io.volumeclone.engine.MetadataReport;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code volume-clone forget --metadata M --uid UID}: removes the default metadata file of a
 * VolumeClone that completed and is being deleted (the operator runs it in a short Pod on the
 * clone's node). Only a file that is valid, cut over and bound to that uid goes: the metadata of a
 * clone still copying, or of a newer clone of the same name (another uid), is never touched. Its
 * directory goes too when nothing else is left in it.
 */
@Command(
    name = "forget",
    mixinStandardHelpOptions = true,
    description = {
      "Remove the metadata file of a completed VolumeClone: only when it is valid, cut over and"
          + " bound to the VolumeClone with --uid; then its directory, if empty.",
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:removed, or there was no file",
      "1:kept, and why: another clone's, not cut over, or not valid metadata",
      "2:usage error"
    })
public class ForgetCommand implements Callable<Integer> {

  @Option(names = "--metadata", required = true, description = "The metadata file.")
  Path metadata;

  @Option(names = "--uid", required = true, description = "The VolumeClone's uid.")
  String uid;

  PrintStream out = System.out;

  @Override
  public Integer call() throws IOException {
    if (!Files.exists(metadata, LinkOption.NOFOLLOW_LINKS)) {
      out.println("metadata " + metadata + ": no such file; nothing to remove");
      return 0;
    }
    if (!Files.isRegularFile(metadata, LinkOption.NOFOLLOW_LINKS)) {
      throw new IOException(
          "metadata " + metadata + " is kept: not a regular file (only default files go)");
    }
    MetadataReport report;
    try (FileBlockDevice device = FileBlockDevice.openReadOnly(metadata)) {
      report = DiskCloneMetadata.inspect(device);
    }
    String owner = report.identity() == null ? null : report.identity().owner();
    String why = null;
    if (report.state() != MetadataReport.State.VALID) {
      why = "it is " + report.state().name().toLowerCase() + " metadata (" + report.problem() + ")";
    } else if (owner == null || !owner.endsWith(" uid " + uid)) {
      why =
          "it belongs to "
              + (owner == null ? "no recorded clone" : owner)
              + ", not to the VolumeClone with uid "
              + uid;
    } else if (!report.cutOver()) {
      why = "that clone is not cut over; its progress would be lost";
    }
    if (why != null) {
      throw new IOException("metadata " + metadata + " is kept: " + why);
    }
    Files.delete(metadata);
    out.println("metadata " + metadata + " of " + owner + " removed (the clone completed)");
    Path directory = metadata.toAbsolutePath().getParent();
    try {
      Files.deleteIfExists(directory);
      out.println("directory " + directory + " removed (empty)");
    } catch (DirectoryNotEmptyException e) {
      out.println("directory " + directory + " kept: it holds other files");
    }
    out.flush();
    return 0;
  }
}
