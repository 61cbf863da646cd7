import protobuf from 'protobufjs';

/**
 * The subset of tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto,
 * tensor.proto and tensor_shape.proto that the writer needs, with the published field numbers.
 */
export const EVENT_PROTO = `
syntax = "proto3";
package tensorflow;

message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}

message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
  repeated bytes string_val = 8;
}

message SummaryMetadata {
  message PluginData { string plugin_name = 1; bytes content = 2; }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
  int32 data_class = 4;
}

message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      Image image = 4;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
  }
}
`;

let root: protobuf.Root | null = null;

export function eventType(): protobuf.Type {
  root ??= protobuf.parse(EVENT_PROTO, { keepCase: true }).root;
  return root.lookupType('tensorflow.Event');
}

/** DataType enum values from tensorflow/core/framework/types.proto. */
export const DT_FLOAT = 1;
export const DT_STRING = 7;
