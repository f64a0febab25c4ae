/**
 * Standard ROS 2 (Humble) message definitions used by this project, embedded as strings so that they ship
 * inside `dist/` with no file lookup. Field lists, types, constants and defaults are exact copies of the
 * official `.msg` files (ros2/common_interfaces, ros2/rcl_interfaces, ros-perception/vision_msgs 4.x);
 * comments are left out.
 *
 * Keys are fully qualified ROS 2 type names (`pkg/msg/Name`).
 */
export const STANDARD_MSG_DEFINITIONS: Readonly<Record<string, string>> = {
  'builtin_interfaces/msg/Time': `int32 sec
uint32 nanosec
`,
  'builtin_interfaces/msg/Duration': `int32 sec
uint32 nanosec
`,
  'std_msgs/msg/Header': `builtin_interfaces/Time stamp
string frame_id
`,
  'std_msgs/msg/String': `string data
`,
  'std_msgs/msg/ColorRGBA': `float32 r
float32 g
float32 b
float32 a
`,
  'geometry_msgs/msg/Point': `float64 x
float64 y
float64 z
`,
  'geometry_msgs/msg/Vector3': `float64 x
float64 y
float64 z
`,
  'geometry_msgs/msg/Quaternion': `float64 x 0
float64 y 0
float64 z 0
float64 w 1
`,
  'geometry_msgs/msg/Pose': `Point position
Quaternion orientation
`,
  'geometry_msgs/msg/PoseStamped': `std_msgs/Header header
Pose pose
`,
  'geometry_msgs/msg/PoseWithCovariance': `Pose pose
float64[36] covariance
`,
  'geometry_msgs/msg/Transform': `Vector3 translation
Quaternion rotation
`,
  'geometry_msgs/msg/TransformStamped': `std_msgs/Header header
string child_frame_id
Transform transform
`,
  'tf2_msgs/msg/TFMessage': `geometry_msgs/TransformStamped[] transforms
`,
  'sensor_msgs/msg/RegionOfInterest': `uint32 x_offset
uint32 y_offset
uint32 height
uint32 width
bool do_rectify
`,
  'sensor_msgs/msg/Image': `std_msgs/Header header
uint32 height
uint32 width
string encoding
uint8 is_bigendian
uint32 step
uint8[] data
`,
  'sensor_msgs/msg/CompressedImage': `std_msgs/Header header
string format
uint8[] data
`,
  'sensor_msgs/msg/CameraInfo': `std_msgs/Header header
uint32 height
uint32 width
string distortion_model
float64[] d
float64[9]  k
float64[9]  r
float64[12] p
uint32 binning_x
uint32 binning_y
RegionOfInterest roi
`,
  'sensor_msgs/msg/PointField': `uint8 INT8    = 1
uint8 UINT8   = 2
uint8 INT16   = 3
uint8 UINT16  = 4
uint8 INT32   = 5
uint8 UINT32  = 6
uint8 FLOAT32 = 7
uint8 FLOAT64 = 8
string name
uint32 offset
uint8  datatype
uint32 count
`,
  'sensor_msgs/msg/PointCloud2': `std_msgs/Header header
uint32 height
uint32 width
PointField[] fields
bool    is_bigendian
uint32  point_step
uint32  row_step
uint8[] data
bool is_dense
`,
  'vision_msgs/msg/ObjectHypothesis': `string class_id
float64 score
`,
  'vision_msgs/msg/ObjectHypothesisWithPose': `ObjectHypothesis hypothesis
geometry_msgs/PoseWithCovariance pose
`,
  'vision_msgs/msg/BoundingBox3D': `geometry_msgs/Pose center
geometry_msgs/Vector3 size
`,
  'vision_msgs/msg/Detection3D': `std_msgs/Header header
ObjectHypothesisWithPose[] results
BoundingBox3D bbox
string id
`,
  'vision_msgs/msg/Detection3DArray': `std_msgs/Header header
Detection3D[] detections
`,
  'visualization_msgs/msg/UVCoordinate': `float32 u
float32 v
`,
  'visualization_msgs/msg/MeshFile': `string filename
uint8[] data
`,
  'visualization_msgs/msg/Marker': `int32 ARROW=0
int32 CUBE=1
int32 SPHERE=2
int32 CYLINDER=3
int32 LINE_STRIP=4
int32 LINE_LIST=5
int32 CUBE_LIST=6
int32 SPHERE_LIST=7
int32 POINTS=8
int32 TEXT_VIEW_FACING=9
int32 MESH_RESOURCE=10
int32 TRIANGLE_LIST=11
int32 ADD=0
int32 MODIFY=0
int32 DELETE=2
int32 DELETEALL=3
std_msgs/Header header
string ns
int32 id
int32 type
int32 action
geometry_msgs/Pose pose
geometry_msgs/Vector3 scale
std_msgs/ColorRGBA color
builtin_interfaces/Duration lifetime
bool frame_locked
geometry_msgs/Point[] points
std_msgs/ColorRGBA[] colors
string texture_resource
sensor_msgs/CompressedImage texture
UVCoordinate[] uv_coordinates
string text
string mesh_resource
MeshFile mesh_file
bool mesh_use_embedded_materials
`,
  'visualization_msgs/msg/MarkerArray': `Marker[] markers
`,
};
