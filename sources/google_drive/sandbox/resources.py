"""What Drive v3 documents about its resources and methods, as the sandbox checks requests.

* The fields of every resource the sandbox answers with, as Drive's discovery document
  (``drive.v3.json``) lists them: ``fields`` may name any of them (Drive answers without the
  ones that have no value), and naming anything else is 400. They are written in the syntax of
  ``fields`` itself and read with ``parse_fields``; maps (``properties``, ``exportLinks`` ...)
  are leaves.
* What each method answers without ``fields`` (Drive's default partial responses).
* The query parameters each method documents, the parameters every method takes, and the
  deprecated ones with what replaced them; which of them the sandbox simulates is the
  handler's business (``GoogleDriveSandbox._check_parameters``).
* The constant parts of the ``about`` resource (formats, themes, colours, sizes), taken from
  what Drive answers for a Google Workspace user.
"""

from __future__ import annotations

from sources.google_drive.sandbox.query import Schema, Selection, parse_fields

_USER = "displayName,emailAddress,kind,me,permissionId,photoLink"
_PERMISSION = (
    "allowFileDiscovery,deleted,displayName,domain,emailAddress,expirationTime,id,"
    "inheritedPermissionsDisabled,kind,pendingOwner,"
    "permissionDetails(inherited,inheritedFrom,permissionType,role),photoLink,role,"
    "teamDrivePermissionDetails(inherited,inheritedFrom,role,teamDrivePermissionType),type,view"
)
_RESTRICTION = "restrictedForReaders,restrictedForWriters"
_DRIVE = (
    "backgroundImageFile(id,width,xCoordinate,yCoordinate),backgroundImageLink,"
    "capabilities(canAddChildren,canChangeCopyRequiresWriterPermissionRestriction,"
    "canChangeDomainUsersOnlyRestriction,canChangeDownloadRestriction,canChangeDriveBackground,"
    "canChangeDriveMembersOnlyRestriction,"
    "canChangeSharingFoldersRequiresOrganizerPermissionRestriction,canComment,canCopy,"
    "canDeleteChildren,canDeleteDrive,canDownload,canEdit,canListChildren,canManageMembers,"
    "canReadRevisions,canRename,canRenameDrive,canResetDriveRestrictions,canShare,"
    "canTrashChildren),"
    "colorRgb,createdTime,hidden,id,kind,name,orgUnitId,"
    "restrictions(adminManagedRestrictions,copyRequiresWriterPermission,domainUsersOnly,"
    f"downloadRestriction({_RESTRICTION}),driveMembersOnly,"
    "sharingFoldersRequiresOrganizerPermission),"
    "themeId"
)
_TEAM_DRIVE = (
    "backgroundImageFile(id,width,xCoordinate,yCoordinate),backgroundImageLink,"
    "capabilities(canAddChildren,canChangeCopyRequiresWriterPermissionRestriction,"
    "canChangeDomainUsersOnlyRestriction,canChangeDownloadRestriction,"
    "canChangeSharingFoldersRequiresOrganizerPermissionRestriction,canChangeTeamDriveBackground,"
    "canChangeTeamMembersOnlyRestriction,canComment,canCopy,canDeleteChildren,"
    "canDeleteTeamDrive,canDownload,canEdit,canListChildren,canManageMembers,canReadRevisions,"
    "canRemoveChildren,canRename,canRenameTeamDrive,canResetTeamDriveRestrictions,canShare,"
    "canTrashChildren),"
    "colorRgb,createdTime,id,kind,name,orgUnitId,"
    "restrictions(adminManagedRestrictions,copyRequiresWriterPermission,domainUsersOnly,"
    f"downloadRestriction({_RESTRICTION}),sharingFoldersRequiresOrganizerPermission,"
    "teamMembersOnly),"
    "themeId"
)
_FILE = (
    "appProperties,"
    "capabilities(canAcceptOwnership,canAccessViaGenAi,canAddChildren,"
    "canAddFolderFromAnotherDrive,canAddMyDriveParent,canChangeCopyRequiresWriterPermission,"
    "canChangeItemDownloadRestriction,canChangeSecurityUpdateEnabled,"
    "canChangeViewersCanCopyContent,canComment,canCopy,canDelete,canDeleteChildren,"
    "canDisableInheritedPermissions,canDownload,canEdit,canEnableInheritedPermissions,"
    "canListChildren,canModifyContent,canModifyContentRestriction,"
    "canModifyEditorContentRestriction,canModifyLabels,canModifyOwnerContentRestriction,"
    "canMoveChildrenOutOfDrive,canMoveChildrenOutOfTeamDrive,canMoveChildrenWithinDrive,"
    "canMoveChildrenWithinTeamDrive,canMoveItemIntoTeamDrive,canMoveItemOutOfDrive,"
    "canMoveItemOutOfTeamDrive,canMoveItemWithinDrive,canMoveItemWithinTeamDrive,"
    "canMoveTeamDriveItem,canReadDrive,canReadLabels,canReadRevisions,canReadTeamDrive,"
    "canRemoveChildren,canRemoveContentRestriction,canRemoveMyDriveParent,canRename,canShare,"
    "canStartApproval,canTrash,canTrashChildren,canUntrash),"
    "clientEncryptionDetails(decryptionMetadata(aes256GcmChunkSize,encryptionResourceKeyHash,"
    "jwt,kaclsId,kaclsName,keyFormat,wrappedKey),encryptionState),"
    "contentHints(indexableText,thumbnail(image,mimeType)),"
    f"contentRestrictions(ownerRestricted,readOnly,reason,restrictingUser({_USER}),"
    "restrictionTime,systemRestricted,type),"
    "copyRequiresWriterPermission,createdTime,description,"
    f"downloadRestrictions(effectiveDownloadRestrictionWithContext({_RESTRICTION}),"
    f"itemDownloadRestriction({_RESTRICTION})),"
    "driveId,explicitlyTrashed,exportLinks,fileExtension,folderColorRgb,fullFileExtension,"
    "hasAugmentedPermissions,hasThumbnail,headRevisionId,iconLink,id,"
    "imageMediaMetadata(aperture,cameraMake,cameraModel,colorSpace,exposureBias,exposureMode,"
    "exposureTime,flashUsed,focalLength,height,isoSpeed,lens,location(altitude,latitude,"
    "longitude),maxApertureValue,meteringMode,rotation,sensor,subjectDistance,time,"
    "whiteBalance,width),"
    "inheritedPermissionsDisabled,isAppAuthorized,kind,"
    "labelInfo(labels(fields,id,kind,revisionId)),"
    f"lastModifyingUser({_USER}),"
    "linkShareMetadata(securityUpdateEligible,securityUpdateEnabled),"
    "md5Checksum,mimeType,modifiedByMe,modifiedByMeTime,modifiedTime,name,originalFilename,"
    f"ownedByMe,owners({_USER}),parents,permissionIds,permissions({_PERMISSION}),properties,"
    "quotaBytesUsed,resourceKey,sha1Checksum,sha256Checksum,shared,sharedWithMeTime,"
    f"sharingUser({_USER}),shortcutDetails(targetId,targetMimeType,targetResourceKey),size,"
    "spaces,starred,teamDriveId,thumbnailLink,thumbnailVersion,trashed,trashedTime,"
    f"trashingUser({_USER}),version,videoMediaMetadata(durationMillis,height,width),viewedByMe,"
    "viewedByMeTime,viewersCanCopyContent,webContentLink,webViewLink,writersCanShare"
)
_THEME = "backgroundImageLink,colorRgb,id"
_ABOUT = (
    "appInstalled,canCreateDrives,canCreateTeamDrives,"
    f"driveThemes({_THEME}),exportFormats,folderColorPalette,importFormats,kind,"
    "maxImportSizes,maxUploadSize,storageQuota(limit,usage,usageInDrive,usageInDriveTrash),"
    f"teamDriveThemes({_THEME}),user({_USER})"
)

FILE_SCHEMA: Schema = parse_fields(_FILE)
FILE_LIST_SCHEMA: Schema = parse_fields(f"files({_FILE}),incompleteSearch,kind,nextPageToken")
CHANGE_LIST_SCHEMA: Schema = parse_fields(
    f"changes(changeType,drive({_DRIVE}),driveId,file({_FILE}),fileId,kind,removed,"
    f"teamDrive({_TEAM_DRIVE}),teamDriveId,time,type),kind,newStartPageToken,nextPageToken"
)
START_TOKEN_SCHEMA: Schema = parse_fields("kind,startPageToken")
ABOUT_SCHEMA: Schema = parse_fields(_ABOUT)
DRIVE_SCHEMA: Schema = parse_fields(_DRIVE)
DRIVE_LIST_SCHEMA: Schema = parse_fields(f"drives({_DRIVE}),kind,nextPageToken")
PERMISSION_SCHEMA: Schema = parse_fields(_PERMISSION)
PERMISSION_LIST_SCHEMA: Schema = parse_fields(f"kind,nextPageToken,permissions({_PERMISSION})")

DEFAULT_FILE_FIELDS: Selection = parse_fields("kind,id,name,mimeType")
DEFAULT_FILE_LIST_FIELDS: Selection = parse_fields(
    "kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)"
)
DEFAULT_CHANGE_LIST_FIELDS: Selection = parse_fields(
    "kind,nextPageToken,newStartPageToken,"
    "changes(kind,changeType,time,removed,fileId,driveId,file(kind,id,name,mimeType))"
)
DEFAULT_START_TOKEN_FIELDS: Selection = parse_fields("kind,startPageToken")
DEFAULT_DRIVE_FIELDS: Selection = parse_fields("kind,id,name")
DEFAULT_DRIVE_LIST_FIELDS: Selection = parse_fields("kind,nextPageToken,drives(kind,id,name)")
DEFAULT_PERMISSION_FIELDS: Selection = parse_fields("kind,id,type,role")
DEFAULT_PERMISSION_LIST_FIELDS: Selection = parse_fields(
    "kind,nextPageToken,permissions(kind,id,type,role)"
)

# Query parameters: every method's own (path parameters left out), and those of every method.
GLOBAL_PARAMETERS = frozenset(
    (
        "$.xgafv", "access_token", "alt", "callback", "fields", "key", "oauth_token",
        "prettyPrint", "quotaUser", "uploadType", "upload_protocol",
    )
)  # fmt: skip
METHOD_PARAMETERS: dict[str, frozenset[str]] = {
    "files.list": frozenset(
        (
            "corpora", "corpus", "driveId", "includeItemsFromAllDrives", "includeLabels",
            "includePermissionsForView", "includeTeamDriveItems", "orderBy", "pageSize",
            "pageToken", "q", "spaces", "supportsAllDrives", "supportsTeamDrives", "teamDriveId",
        )
    ),
    "files.get": frozenset(
        (
            "acknowledgeAbuse", "includeLabels", "includePermissionsForView",
            "supportsAllDrives", "supportsTeamDrives",
        )
    ),
    "about.get": frozenset(),
    "drives.list": frozenset(("pageSize", "pageToken", "q", "useDomainAdminAccess")),
    "drives.get": frozenset(("useDomainAdminAccess",)),
    "permissions.list": frozenset(
        (
            "includePermissionsForView", "pageSize", "pageToken", "supportsAllDrives",
            "supportsTeamDrives", "useDomainAdminAccess",
        )
    ),
    "permissions.get": frozenset(
        ("supportsAllDrives", "supportsTeamDrives", "useDomainAdminAccess")
    ),
    "changes.getStartPageToken": frozenset(
        ("driveId", "supportsAllDrives", "supportsTeamDrives", "teamDriveId")
    ),
    "changes.list": frozenset(
        (
            "driveId", "includeCorpusRemovals", "includeItemsFromAllDrives", "includeLabels",
            "includePermissionsForView", "includeRemoved", "includeTeamDriveItems", "pageSize",
            "pageToken", "restrictToMyDrive", "spaces", "supportsAllDrives", "supportsTeamDrives",
            "teamDriveId",
        )
    ),
}  # fmt: skip
DEPRECATED_PARAMETERS = {
    "corpus": "corpora",
    "includeTeamDriveItems": "includeItemsFromAllDrives",
    "supportsTeamDrives": "supportsAllDrives",
    "teamDriveId": "driveId",
}

# The about resource's constant parts.
_DOCS = "application/vnd.google-apps.document"
_SHEETS = "application/vnd.google-apps.spreadsheet"
_SLIDES = "application/vnd.google-apps.presentation"
_DRAWING = "application/vnd.google-apps.drawing"
_OOXML = "application/vnd.openxmlformats-officedocument"
STORAGE_LIMIT = 15 * 1024**3
MAX_UPLOAD_SIZE = "5242880000000"
IMPORT_FORMATS: dict[str, list[str]] = {
    "application/msword": [_DOCS],
    "application/rtf": [_DOCS],
    "application/vnd.ms-excel": [_SHEETS],
    "application/vnd.ms-powerpoint": [_SLIDES],
    "application/vnd.oasis.opendocument.presentation": [_SLIDES],
    "application/vnd.oasis.opendocument.spreadsheet": [_SHEETS],
    "application/vnd.oasis.opendocument.text": [_DOCS],
    f"{_OOXML}.presentationml.presentation": [_SLIDES],
    f"{_OOXML}.spreadsheetml.sheet": [_SHEETS],
    f"{_OOXML}.wordprocessingml.document": [_DOCS],
    "application/x-vnd.oasis.opendocument.spreadsheet": [_SHEETS],
    "image/bmp": [_DOCS],
    "image/gif": [_DOCS],
    "image/jpeg": [_DOCS],
    "image/png": [_DOCS],
    "image/x-wmf": [_DRAWING],
    "text/csv": [_SHEETS],
    "text/html": [_DOCS],
    "text/markdown": [_DOCS],
    "text/plain": [_DOCS],
    "text/tab-separated-values": [_SHEETS],
}
EXPORT_FORMATS: dict[str, list[str]] = {
    _DOCS: [
        "application/rtf", "application/vnd.oasis.opendocument.text", "text/html",
        "application/pdf", "text/markdown", "application/epub+zip", "application/zip",
        f"{_OOXML}.wordprocessingml.document", "text/plain",
    ],
    _SHEETS: [
        "application/x-vnd.oasis.opendocument.spreadsheet", "text/tab-separated-values",
        "application/pdf", f"{_OOXML}.spreadsheetml.sheet", "text/csv", "application/zip",
        "application/vnd.oasis.opendocument.spreadsheet",
    ],
    _SLIDES: [
        "application/vnd.oasis.opendocument.presentation", "application/pdf",
        f"{_OOXML}.presentationml.presentation", "text/plain",
    ],
    _DRAWING: ["image/svg+xml", "image/png", "application/pdf", "image/jpeg"],
    "application/vnd.google-apps.form": ["application/zip"],
    "application/vnd.google-apps.script": ["application/vnd.google-apps.script+json"],
    "application/vnd.google-apps.site": ["text/plain"],
    "application/vnd.google-apps.vid": ["video/mp4"],
}  # fmt: skip
MAX_IMPORT_SIZES = {
    _DOCS: "10485760",
    _SHEETS: "104857600",
    _SLIDES: "104857600",
    _DRAWING: "2097152",
}
FOLDER_COLOR_PALETTE = (
    "#ac725e", "#d06b64", "#f83a22", "#fa573c", "#ff7537", "#ffad46", "#42d692", "#16a765",
    "#7bd148", "#b3dc6c", "#fbe983", "#fad165", "#92e1c0", "#9fe1e7", "#9fc6e7", "#4986e7",
    "#9a9cff", "#b99aff", "#8f8f8f", "#cabdbf", "#cca6ac", "#f691b2", "#cd74e6", "#a47ae2",
)  # fmt: skip
DRIVE_THEMES = (
    ("abacus", "#e7a41b"), ("azure", "#4285f4"), ("bok_choy", "#0f9d58"),
    ("cherry_blossom", "#e06055"), ("coffee_cup", "#795548"), ("crayons", "#f4511e"),
    ("graphic", "#1a73e8"), ("honey_comb", "#f6bf26"), ("mountain", "#1e88e5"),
    ("ocean", "#039be5"), ("paint", "#8e24aa"), ("seaside", "#00acc1"),
)  # fmt: skip


def theme_link(theme_id: str) -> str:
    return f"https://ssl.gstatic.com/team_drive_themes/{theme_id}_background.jpg"
