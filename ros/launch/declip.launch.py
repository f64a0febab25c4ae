"""Start declip_node on a live RGB-D camera.

    ros2 launch declip_ros declip.launch.py camera_namespace:=/camera queries:="red mug, bowl"
    ros2 launch declip_ros declip.launch.py color_topic:=/cam/rgb depth_topic:=/cam/depth_registered \
        camera_info_topic:=/cam/rgb/camera_info device:=cuda model_path:=/models/declip
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory('declip_ros')
    camera_ns = LaunchConfiguration('camera_namespace')

    args = [
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of declip_node.'),
        DeclareLaunchArgument('camera_namespace', default_value='/camera',
                              description='Namespace of the camera driver (e.g. /camera or /camera/camera).'),
        DeclareLaunchArgument('color_topic', default_value=[camera_ns, '/color/image_raw'],
                              description='Colour image topic.'),
        DeclareLaunchArgument('depth_topic', default_value=[camera_ns, '/aligned_depth_to_color/image_raw'],
                              description='Depth image aligned to colour.'),
        DeclareLaunchArgument('camera_info_topic', default_value=[camera_ns, '/color/camera_info'],
                              description='CameraInfo of the colour camera.'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'params.yaml'),
                              description='ros2 parameters file for declip_node.'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='Model package directory (empty = embedded default model).'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cuda | webgpu | cpu'),
        DeclareLaunchArgument('queries', default_value='',
                              description='Comma-separated standing queries (empty = the params file value).'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='Use /clock (bag replay).'),
        DeclareLaunchArgument('log_level', default_value='info', description='Logger level.'),
    ]

    overrides = {
        'model_path': LaunchConfiguration('model_path'),
        'device': LaunchConfiguration('device'),
        'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool),
    }
    remappings = [
        ('camera/color/image_raw', LaunchConfiguration('color_topic')),
        ('camera/aligned_depth_to_color/image_raw', LaunchConfiguration('depth_topic')),
        ('camera/color/camera_info', LaunchConfiguration('camera_info_topic')),
    ]
    # queries:="" keeps the params file value; a non-empty value overrides it.
    has_queries = PythonExpression(["'", LaunchConfiguration('queries'), "' != ''"])

    def declip_node(extra_parameters, condition):
        return Node(
            package='declip_ros',
            executable='declip_node',
            name='declip_node',
            namespace=LaunchConfiguration('namespace'),
            output='screen',
            emulate_tty=True,
            parameters=[LaunchConfiguration('params_file'), overrides] + extra_parameters,
            remappings=remappings,
            arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
            condition=condition,
        )

    return LaunchDescription(args + [
        declip_node([], UnlessCondition(has_queries)),
        declip_node([{'queries': LaunchConfiguration('queries')}], IfCondition(has_queries)),
    ])
